"""Rendering diagnostics: rustc-style text, the JSON of the language contract, SARIF 2.1.0.

The text form shows `severity[CODE]: message`, an arrow to file:line:col,
the source line with a caret span under the offending text, then notes
(deployment, witness, related places) and a `help:` line. Colour is added
only when writing to a terminal (rich decides). JSON follows section 4 of
the contract key for key, plus `help` (the help line, or null) and
`suggestions` (the names a "did you mean" proposes, possibly empty) and
`fixes` (each with a title, `applicable` when `caic fix` applies it, and its
edits: a range and the text that replaces it); SARIF is what code-scanning
tools load.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping

from cai_lang import __version__
from cai_lang.diagnostics.codes import CODES, Severity
from cai_lang.diagnostics.model import Diagnostic, summarize
from cai_lang.span import SourceFile, Span

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
_ANSI = {"bold": "1", "dim": "2", "red": "31", "yellow": "33", "cyan": "36", "blue": "34"}

Segment = tuple[str, "str | None"]


def format_witness(witness: Mapping[str, object]) -> str:
    return ", ".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in witness.items())


MAX_LINE = 120  # characters of a source line shown; longer lines are cut around the span


def _window(line: str, start: int, end: int) -> tuple[str, int, int]:
    """Cut a long line to MAX_LINE characters around columns [start, end), marking cuts with `...`."""
    if len(line) <= MAX_LINE:
        return line, start, end
    width = min(max(end - start, 1), MAX_LINE - 20)
    left = max(0, min(start - 1 - (MAX_LINE - width) // 2, len(line) - MAX_LINE))
    shown = line[left : left + MAX_LINE]
    prefix = "..." if left > 0 else ""
    suffix = "..." if left + MAX_LINE < len(line) else ""
    start = start - left + len(prefix)
    end = min(end - left, MAX_LINE + 1) + len(prefix)
    return prefix + shown + suffix, start, max(end, start + 1)


def _snippet(out: list[Segment], span: Span, source: SourceFile | None, style: str) -> None:
    if source is None:
        return
    gutter = len(str(span.end_line)) + 1
    pad = " " * gutter
    out.append((f"{pad}|\n", "bold blue"))
    last = span.end_line if span.end_line - span.line < 4 else span.line
    for number in range(span.line, last + 1):
        line = source.line_text(number)
        start = span.column if number == span.line else 1
        end = max(span.end_column, start + 1) if number == span.end_line else max(len(line) + 1, start + 1)
        line, start, end = _window(line, start, end)
        out.append((f"{number:>{gutter - 1}} | ", "bold blue"))
        out.append((line + "\n", None))
        out.append((f"{pad}| ", "bold blue"))
        out.append((" " * (start - 1) + "^" * (end - start), style))
        out.append(("\n", None))


def segments(diagnostic: Diagnostic, sources: Mapping[str, SourceFile]) -> list[Segment]:
    """The text form of one diagnostic as (text, style) pieces."""
    style = _STYLE[diagnostic.severity]
    out: list[Segment] = [(f"{diagnostic.severity.value}[{diagnostic.code}]", style), (f": {diagnostic.message}\n", "bold")]
    span = diagnostic.span
    pad = "  "
    if span is not None:
        pad = " " * (len(str(span.end_line)) + 1)
        out.append((f"{pad[:-1]}--> ", "bold blue"))
        out.append((f"{span.file}:{span.line}:{span.column}\n", None))
        _snippet(out, span, sources.get(span.file), style)

    def note(label: str, text: str, label_style: str = "bold") -> None:
        out.append((f"{pad}= {label}: ", label_style))
        out.append((text + "\n", "dim" if label_style == "dim" else None))

    for related in diagnostic.related:
        note("note", f"{related.message} at {related.span.file}:{related.span.line}:{related.span.column}")
    if diagnostic.deployment is not None:
        note("note", f"in deployment `{diagnostic.deployment}`")
    if diagnostic.witness:
        note("witness", format_witness(diagnostic.witness))
    if diagnostic.witness_other:
        note("against", format_witness(diagnostic.witness_other))
    if diagnostic.help:
        note("help", diagnostic.help)
    note("explain", f"caic explain {diagnostic.code}", "dim")
    return out


def format_text(diagnostic: Diagnostic, sources: Mapping[str, SourceFile], color: bool = False) -> str:
    """The text form as a string, with ANSI colours when `color` (no rich needed)."""
    pieces = []
    for text, style in segments(diagnostic, sources):
        if color and style:
            codes = ";".join(_ANSI[word] for word in style.split())
            pieces.append(f"\x1b[{codes}m{text}\x1b[0m")
        else:
            pieces.append(text)
    return "".join(pieces)


def render_text(diagnostic: Diagnostic, sources: Mapping[str, SourceFile]):
    """The text form as a rich `Text`, for commands that print through rich."""
    from rich.text import Text

    out = Text()
    for text, style in segments(diagnostic, sources):
        out.append(text, style=style)
    return out


def summary_line(diagnostics: Iterable[Diagnostic]) -> str:
    counts = summarize(diagnostics)

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return f"{plural(counts['errors'], 'error')}, {plural(counts['warnings'], 'warning')}, {plural(counts['infos'], 'note')}"


_SUGGESTION = re.compile(r"did you mean `([^`]+)`")


def suggestions(help_text: str | None) -> list[str]:
    """The replacements a help line proposes (`did you mean `x`?`), for tools that offer fixes."""
    return _SUGGESTION.findall(help_text or "")


def diagnostic_json(diagnostic: Diagnostic) -> dict:
    span = diagnostic.span
    return {
        "code": diagnostic.code,
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "file": span.file if span else None,
        "line": span.line if span else None,
        "column": span.column if span else None,
        "end_line": span.end_line if span else None,
        "end_column": span.end_column if span else None,
        "deployment": diagnostic.deployment,
        "witness": diagnostic.witness,
        **({"witness_other": diagnostic.witness_other} if diagnostic.witness_other is not None else {}),
        "help": diagnostic.help,
        "suggestions": suggestions(diagnostic.help),
        "fixes": [
            {
                "title": fix.title,
                "applicable": fix.applicable,
                "edits": [
                    {"file": e.span.file, "line": e.span.line, "column": e.span.column, "end_line": e.span.end_line, "end_column": e.span.end_column, "new_text": e.new_text}
                    for e in fix.edits
                ],
            }
            for fix in diagnostic.fixes
        ],
        "related": [
            {"file": r.span.file, "line": r.span.line, "column": r.span.column, "message": r.message} for r in diagnostic.related
        ],
    }


def render_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps(
        {"diagnostics": [diagnostic_json(d) for d in diagnostics], "summary": summarize(diagnostics)},
        indent=2,
        ensure_ascii=False,
    )


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _sarif_region(span: Span) -> dict:
    return {"startLine": span.line, "startColumn": span.column, "endLine": span.end_line, "endColumn": span.end_column}


def render_sarif(diagnostics: list[Diagnostic]) -> str:
    used = sorted({d.code for d in diagnostics})
    rules = [
        {
            "id": code,
            "name": CODES[code].title.replace(" ", "-"),
            "shortDescription": {"text": CODES[code].title},
            "fullDescription": {"text": CODES[code].explanation},
            "defaultConfiguration": {"level": _SARIF_LEVEL[CODES[code].severity]},
            "help": {"text": f"caic explain {code}"},
        }
        for code in used
    ]
    results = []
    for diagnostic in diagnostics:
        result: dict = {
            "ruleId": diagnostic.code,
            "ruleIndex": used.index(diagnostic.code),
            "level": _SARIF_LEVEL[diagnostic.severity],
            "message": {"text": diagnostic.message + (f" ({diagnostic.help})" if diagnostic.help else "")},
        }
        if diagnostic.span is not None:
            result["locations"] = [
                {"physicalLocation": {"artifactLocation": {"uri": diagnostic.span.file}, "region": _sarif_region(diagnostic.span)}}
            ]
        if diagnostic.related:
            result["relatedLocations"] = [
                {
                    "id": index,
                    "message": {"text": r.message},
                    "physicalLocation": {"artifactLocation": {"uri": r.span.file}, "region": _sarif_region(r.span)},
                }
                for index, r in enumerate(diagnostic.related)
            ]
        properties = {}
        if diagnostic.deployment is not None:
            properties["deployment"] = diagnostic.deployment
        if diagnostic.witness is not None:
            properties["witness"] = diagnostic.witness
        if diagnostic.witness_other is not None:
            properties["witness_other"] = diagnostic.witness_other
        if properties:
            result["properties"] = properties
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "caic",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False)
