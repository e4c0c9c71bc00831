"""A `Program`: a root module with every module it imports, parsed.

This is what the syntax layer hands to the checker: modules keyed by their
resolved file path, and for each module which file each of its imports
resolved to (None when the import failed, already reported). The source
text of every file travels along so diagnostics can show source lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir.nodes import Import, Module
from cai_lang.span import SourceFile


@dataclass
class Program:
    root: str
    modules: dict[str, Module] = field(default_factory=dict)
    imports: dict[str, list[tuple[Import, str | None]]] = field(default_factory=dict)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def root_module(self) -> Module:
        return self.modules[self.root]

    def source_by_display(self) -> dict[str, SourceFile]:
        return {source.display: source for source in self.sources.values()}

    @property
    def has_syntax_errors(self) -> bool:
        return any(d.code in ("E001", "E002") for d in self.diagnostics)
