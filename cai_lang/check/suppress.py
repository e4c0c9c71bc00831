"""Suppression comments: silencing a warning where it is intended.

`# caic: allow W302` (several codes separated by commas or spaces) silences
those codes for findings whose primary span starts on the comment's line
or, for a comment alone on its line, on the next line that holds code.
`# caic: allow-file W302` silences them for every finding in that file.
Anything after the codes (`# caic: allow W302 -- RL only`) is a reason, for
readers.
Only warnings and notes can be silenced: an error means the constitution is
wrong, so naming one is itself a finding (W310), as is an unknown code.
A suppression in the checked file that silenced nothing is W310 with the
kind `UNUSED_SUPPRESSION`; `caic check` shows those only with `--strict`
(the language server always does), and they are not worked out when only
one deployment was checked, since the others might need them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.codes import CODES, Severity
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.ir.program import Program
from cai_lang.span import Span

_COMMENT = re.compile(r"#\s*caic:\s*(allow-file|allow)\b(.*)$")
_CODE = re.compile(r"[A-Za-z]\d{3}")


@dataclass
class _Suppression:
    span: Span
    codes: set[str]
    lines: set[int] | None  # None: the whole file
    used: set[str] = field(default_factory=set)


def _next_code_line(lines: list[str], after: int) -> int:
    for number in range(after + 1, len(lines) + 1):
        text = lines[number - 1].strip()
        if text and not text.startswith("#"):
            return number
    return after


def suppressions_of(module: ir.Module, text: str, problems: list[Diagnostic]) -> list[_Suppression]:
    """The suppressions a file's comments declare; malformed ones go to `problems`."""
    found = []
    lines = text.split("\n")
    for comment in module.comments:
        match = _COMMENT.match(comment.text)
        if match is None:
            continue
        codes = set()
        for word in re.split(r"[\s,]+", match.group(2).strip()):
            if not word:
                continue
            if not re.fullmatch(r"[A-Za-z]+\d+", word):
                break  # the codes end where the reason (or another comment) starts
            code = word.upper()
            entry = CODES.get(code) if _CODE.fullmatch(word) else None
            if entry is None:
                problems.append(msg.BAD_SUPPRESSION.at(comment.span, problem=f"`{word}` is not a diagnostic code", help="see `caic explain` for the codes"))
            elif entry.severity is Severity.ERROR:
                problems.append(
                    msg.BAD_SUPPRESSION.at(comment.span, problem=f"{code} is an error, and errors cannot be allowed", help="fix what the error reports instead")
                )
            else:
                codes.add(code)
        if not codes:
            if not match.group(2).strip():
                problems.append(msg.BAD_SUPPRESSION.at(comment.span, problem="a `caic: allow` comment names no code", help="e.g. `# caic: allow W302`"))
            continue
        if match.group(1) == "allow-file":
            scope = None
        else:
            line = comment.span.line
            alone = not lines[line - 1][: comment.span.column - 1].strip()
            scope = {line, _next_code_line(lines, line)} if alone else {line}
        found.append(_Suppression(span=comment.span, codes=codes, lines=scope))
    return found


def apply_suppressions(program: Program, diagnostics: list[Diagnostic], *, report_unused: bool) -> list[Diagnostic]:
    """`diagnostics` without the silenced ones, plus W310 for malformed (and, with
    `report_unused`, unused) suppressions of the checked file."""
    problems: list[Diagnostic] = []
    by_file: dict[str, list[_Suppression]] = {}
    root_display = program.sources[program.root].display
    for path, module in program.modules.items():
        source = program.sources.get(path)
        if source is None:
            continue
        found = suppressions_of(module, source.text, problems if source.display == root_display else [])
        by_file[source.display] = found
    kept = []
    for diagnostic in diagnostics:
        span = diagnostic.span
        silenced = False
        if span is not None and not diagnostic.is_error:
            for suppression in by_file.get(span.file, ()):
                if diagnostic.code in suppression.codes and (suppression.lines is None or span.line in suppression.lines):
                    suppression.used.add(diagnostic.code)
                    silenced = True
        if not silenced:
            kept.append(diagnostic)
    if report_unused:
        for suppression in by_file.get(root_display, ()):
            for code in sorted(suppression.codes - suppression.used):
                problems.append(msg.UNUSED_SUPPRESSION.at(suppression.span, code=code, help="remove it, or the code from it"))
    return kept + problems
