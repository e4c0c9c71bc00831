"""References, rename and workspace symbols: every place a name denotes one declaration.

Two occurrences are of the same thing when they lead to the same declaration
(`index.declaration_of`: its file and name span), so this works across
programs whose module prefixes differ: a principle of `extra.const` is
`extra.care` from `main.const` and `care` from its own file. The language
server passes the checks it has (open documents and the workspace's other
`.const` files); each program is searched once.
Renaming a reference written `alias.name` rewrites `name` only. Items
declared in the standard library, and modules, are not renamed: the error
says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cai_lang.check import CheckResult
from cai_lang.ir import nodes as ir
from cai_lang.lsp import index
from cai_lang.resources import stdlib_dir
from cai_lang.span import Span
from cai_lang.syntax.parser import terminal_patterns

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class CannotRename(ValueError):
    """A rename that is refused; the message says why, for the editor to show."""


@dataclass(frozen=True)
class Place:
    path: str  # resolved file path
    span: Span  # the name as written (`alias.name` for a qualified reference)
    text: str  # that file's text


Declaration = tuple[str, int]  # (file path, offset of the declared name)


def declaration(result: CheckResult, path: str, offset: int) -> tuple[index.Target, Declaration] | None:
    """What the name at `offset` denotes and where it is declared."""
    target = index.target_at(result.program, path, offset)
    if target is None:
        return None
    found = index.declaration_of(target, result.program, result.constitution)
    return (target, (found[0], found[1].start)) if found is not None else None


def places(declared: Declaration, results: Iterable[CheckResult]) -> list[Place]:
    """Every occurrence, in every given program, of the name declared at `declared`; each once."""
    seen: set[tuple[str, int, int]] = set()
    found: list[Place] = []
    for result in results:
        program = result.program
        for path in program.modules:
            source = program.sources.get(path)
            if source is None:
                continue
            for target in index.occurrences(program, path):
                where = index.declaration_of(target, program, result.constitution)
                if where is None or (where[0], where[1].start) != declared:
                    continue
                key = (path, target.span.start, target.span.end)
                if key not in seen:
                    seen.add(key)
                    found.append(Place(path, target.span, source.text))
    found.sort(key=lambda p: (p.path, p.span.start))
    return found


def name_part(place: Place) -> tuple[int, int]:
    """Offsets of the name itself: after the last `.` of a qualified reference."""
    written = place.text[place.span.start : place.span.end]
    return place.span.start + written.rfind(".") + 1, place.span.end


def refuse_reason(target: index.Target, declared: Declaration) -> str | None:
    if target.kind == "module":
        return "caic: a module is renamed by renaming its file and its imports, not here"
    if Path(declared[0]).resolve().is_relative_to(stdlib_dir().resolve()):
        return f"caic: `{target.key}` is declared in the standard library, which cannot be renamed; declare your own item instead"
    return None


def check_new_name(name: str) -> None:
    if not IDENTIFIER.match(name):
        raise CannotRename(f"caic: `{name}` is not a name (letters, digits and `_`, not starting with a digit)")
    if name in {text for text in terminal_patterns().values() if text.isidentifier()}:
        raise CannotRename(f"caic: `{name}` is a keyword of the language")


def _taken(target: index.Target, module: ir.Module) -> set[str]:
    """The names a rename of `target` must not take in its declaring module (one namespace per kind)."""
    found: set[str] = set()
    declarations = list(module.declarations)
    declarations += [item for node in module.of_type(ir.Deployment) for item in node.items]
    for node in declarations:
        if target.kind == "item" and isinstance(node, (ir.Principle, ir.Rule)):
            found.add(node.name.value)
        elif target.kind == "action" and isinstance(node, ir.Action):
            found.add(node.name.value)
        elif target.kind == "deployment" and isinstance(node, ir.Deployment):
            found.add(node.name.value)
        elif target.kind in ("variable", "value") and isinstance(node, ir.ContextBlock):
            for var in node.variables:
                if target.kind == "variable":
                    found.add(var.name.value)
                elif var.name.value == target.key and isinstance(var.type, ir.EnumType):
                    found |= {value.value for value in var.type.values}
    return found


def rename_edits(target: index.Target, declared: Declaration, results: list[CheckResult], new_name: str) -> dict[str, list[tuple[int, int, str]]]:
    """Per file path, the (start, end, new text) edits of a rename; raises CannotRename."""
    reason = refuse_reason(target, declared)
    if reason is not None:
        raise CannotRename(reason)
    check_new_name(new_name)
    module = next((r.program.modules[declared[0]] for r in results if declared[0] in r.program.modules), None)
    if module is not None and new_name in _taken(target, module):
        raise CannotRename(f"caic: `{new_name}` is already declared there; renaming would make two things of one name")
    edits: dict[str, list[tuple[int, int, str]]] = {}
    for place in places(declared, results):
        start, end = name_part(place)
        edits.setdefault(place.path, []).append((start, end, new_name))
    return edits
