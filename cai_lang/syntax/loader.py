"""Loading a constitution: the root file and, transitively, everything it imports.

`std.NAME` resolves into the standard library; a quoted path resolves
relative to the importing file and must stay inside that file's folder tree
or the standard library after symbolic links are followed (E105). Missing
modules are E103 and loops E104, reported on the `import` line that fails;
so are the limits of `limits.py` (size, regular files, nesting depth, name
length): E103 on the import, or an `InputRefused` error for the root file.
A `ModuleCache` lets several roots (or an editor session) share parsed
modules; `overlays` supplies unsaved editor text in place of file contents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.errors import os_reason
from cai_lang.ir.nodes import Import, Module
from cai_lang.ir.program import Program
from cai_lang.resources import stdlib_dir
from cai_lang.span import SourceFile
from cai_lang.syntax.limits import (
    MAX_IMPORT_DEPTH,
    MAX_NAME,
    InputRefused,
    long_component,
    max_file_bytes,
    read_text,
    resolve_root,
    shorten,
)
from cai_lang.syntax.module import parse_module


def display_path(path: Path) -> str:
    """How a file is named in diagnostics: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


@dataclass
class ModuleCache:
    parsed: dict[str, tuple[Module, SourceFile, list[Diagnostic]]] = field(default_factory=dict)

    def get(self, path: str, overlays: dict[str, str], display: str | None) -> tuple[Module, SourceFile, list[Diagnostic]]:
        if path in overlays:
            if len(overlays[path]) > max_file_bytes():  # an editor's unsaved text obeys the same limit
                raise InputRefused(path, f"{len(overlays[path])} characters, over the {max_file_bytes()}-byte limit (CAIC_MAX_FILE_SIZE)")
            source = SourceFile(path, overlays[path], display or display_path(Path(path)))
            module, diagnostics = parse_module(source, path)
            return module, source, diagnostics
        if path not in self.parsed:
            source = SourceFile(path, read_text(path), display or display_path(Path(path)))
            module, diagnostics = parse_module(source, path)
            self.parsed[path] = (module, source, diagnostics)
        return self.parsed[path]


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def resolve_import(node: Import, importer: Path) -> tuple[str | None, Diagnostic | None]:
    """The real path an import names, or the diagnostic saying why there is none."""
    too_long = long_component(node.target, node.is_path)
    if too_long is not None:
        return None, msg.IMPORT_UNREADABLE.at(
            node.target_span, target=shorten(node.target), reason=f"a name in it is {len(too_long)} characters long, over {MAX_NAME}"
        )
    try:
        return _resolve(node, importer)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop (Python < 3.13)
        reason = os_reason(exc)
        return None, msg.IMPORT_UNREADABLE.at(node.target_span, target=shorten(node.target), reason=reason)


def _resolve(node: Import, importer: Path) -> tuple[str | None, Diagnostic | None]:
    std = stdlib_dir().resolve()
    if not node.is_path:
        parts = node.target.split(".")
        if parts[0] != "std" or len(parts) < 2:
            return None, msg.IMPORT_NOT_STD.at(node.target_span, target=node.target)
        candidate = std.joinpath(*parts[1:]).with_suffix(".const")
        if not candidate.is_file():
            known = sorted(p.stem for p in std.glob("*.const"))
            hint = _closest(parts[-1], known)
            return None, msg.IMPORT_NOT_FOUND.at(
                node.target_span,
                target=node.target,
                help=f"did you mean `std.{hint}`?" if hint else f"standard library modules: {', '.join(known)}",
            )
        return str(candidate.resolve()), None

    base = importer.parent
    candidate = base / node.target
    if not candidate.exists():
        return None, msg.IMPORT_NOT_FOUND.at(node.target_span, target=node.target, help=f"looked for {display_path(candidate)}")
    real = candidate.resolve()
    allowed = [base.resolve(), std]
    if not any(_is_inside(real, folder) for folder in allowed):
        return None, msg.IMPORT_OUTSIDE.at(
            node.target_span,
            target=node.target,
            resolved=display_path(real),
            allowed=f"{display_path(base.resolve())}/ and the standard library",
            help="keep imported modules inside the importing file's folder (symbolic links are followed)",
        )
    if not real.is_file():
        return None, msg.IMPORT_NOT_FOUND.at(node.target_span, target=node.target, help=f"{display_path(real)} is not a file")
    return str(real), None


def _closest(name: str, candidates: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def load_program(
    path: str | Path,
    *,
    cache: ModuleCache | None = None,
    overlays: dict[str, str] | None = None,
    display: str | None = None,
) -> Program:
    """Parse `path` and everything it imports. Raises OSError if the root cannot be read."""
    cache = cache if cache is not None else ModuleCache()
    overlays = overlays or {}
    root = str(resolve_root(path))
    program = Program(root=root)

    def visit(module_path: str, stack: list[str], shown: str | None) -> None:
        module, source, diagnostics = cache.get(module_path, overlays, shown)
        program.modules[module_path] = module
        program.sources[module_path] = source
        program.diagnostics.extend(diagnostics)
        resolved: list[tuple[Import, str | None]] = []
        program.imports[module_path] = resolved
        for node in module.imports:
            target, problem = resolve_import(node, Path(module_path))
            if problem is not None:
                program.diagnostics.append(problem)
                resolved.append((node, None))
                continue
            if target in stack:
                names = [program.modules[p].display for p in stack[stack.index(target) :]]
                cycle = " -> ".join(names + [program.modules[target].display])
                program.diagnostics.append(msg.IMPORT_CYCLE.at(node.span, cycle=cycle))
                resolved.append((node, None))
                continue
            if target not in program.modules and len(stack) >= MAX_IMPORT_DEPTH:
                program.diagnostics.append(
                    msg.IMPORT_UNREADABLE.at(
                        node.target_span, target=shorten(node.target), reason=f"imports are nested more than {MAX_IMPORT_DEPTH} deep here"
                    )
                )
                resolved.append((node, None))
                continue
            resolved.append((node, target))
            if target not in program.modules:
                try:
                    visit(target, stack + [target], None)
                except (OSError, UnicodeDecodeError) as exc:
                    program.diagnostics.append(msg.IMPORT_UNREADABLE.at(node.target_span, target=node.target, reason=str(exc)))
                    resolved[-1] = (node, None)

    visit(root, [root], display)
    return program
