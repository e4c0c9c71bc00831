"""Suggested fixes: the edits a diagnostic proposes, and applying them to a text.

A `Fix` is a titled list of `Edit`s (a span of one file and the text that
replaces it; an empty span inserts). `applicable` marks a fix that needs no
judgement (a misspelt name with one close match, the priority the help
line spells out): `caic fix` applies those, and the language server offers
every fix, applicable or not, as a quick fix. Both read the fixes the
checker attached to its diagnostics, so the command line and the editor
make the same edits. The checker builds them where it finds the problem
(`replace`, `insert_at`); `suppression` is the one fix made afterwards,
from the text, for any warning.
"""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ConfigDict

from cai_lang.span import Span


class Edit(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    span: Span  # what is replaced; start == end inserts before that place
    new_text: str


class Fix(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    title: str
    edits: tuple[Edit, ...]
    applicable: bool = False  # safe to apply without a person choosing (`caic fix`)


def closest(name: str, candidates) -> str | None:
    """The one close match a "did you mean" proposes, if any."""
    found = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, candidates) -> str | None:
    found = closest(name, candidates)
    return f"did you mean `{found}`?" if found else None


def replace(span: Span, new_text: str, title: str | None = None, applicable: bool = True) -> Fix:
    return Fix(title=title or f"change to `{new_text}`", edits=(Edit(span=span, new_text=new_text),), applicable=applicable)


def insert_at(file: str, line: int, column: int, offset: int, text: str) -> Edit:
    """An insertion before the character at (line, column), which is `offset` in the file."""
    return Edit(span=Span(file=file, line=line, column=column, end_line=line, end_column=column, start=offset, end=offset), new_text=text)


def line_start(span: Span) -> tuple[int, int, int]:
    """(line, column, offset) of the start of the line a span ends on."""
    return span.end_line, 1, span.end - span.end_column + 1


def suppression(code: str, span: Span, text: str) -> Fix:
    """A `# caic: allow CODE` comment alone on the line above the finding, at its indentation."""
    start = span.start - span.column + 1
    line_text = text[start : text.find("\n", start) if "\n" in text[start:] else len(text)]
    indent = line_text[: len(line_text) - len(line_text.lstrip(" \t"))]
    edit = insert_at(span.file, span.line, 1, start, f"{indent}# caic: allow {code}\n")
    return Fix(title=f"silence {code} on this line (`# caic: allow {code}`)", edits=(edit,), applicable=False)


class OverlappingEdits(ValueError):
    pass


def overlaps(one: Edit, other: Edit) -> bool:
    """Whether two edits touch the same text (two insertions at one place count: their order is unknown)."""
    a, b = one.span, other.span
    return (a.start < b.end and b.start < a.end) or a.start == b.start


def apply_edits(text: str, edits: list[Edit]) -> str:
    """`text` with every edit made; edits are by offset and must not overlap."""
    ordered = sorted(edits, key=lambda e: (e.span.start, e.span.end))
    for before, after in zip(ordered, ordered[1:]):
        if overlaps(before, after):
            raise OverlappingEdits(f"edits at {before.span} and {after.span} overlap")
    for edit in reversed(ordered):
        text = text[: edit.span.start] + edit.new_text + text[edit.span.end :]
    return text


def suggestion(name: str, candidates, span: Span, template: str = "{}") -> tuple[str | None, Fix | None]:
    """The help line and the fix of a "did you mean": `template` writes the found name as it
    replaces `span` (`"{}.x"` when only a module alias was misspelt)."""
    found = closest(name, candidates)
    if found is None:
        return None, None
    written = template.format(found)
    return f"did you mean `{found}`?", replace(span, written)
