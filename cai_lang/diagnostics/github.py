"""GitHub Actions workflow annotations: `::error file=F,line=L,col=C::message`.

A workflow step that prints these lines gets each finding shown on the
changed line of a pull request. Property values and messages are escaped as
the runner expects (`%`, carriage return and newline everywhere; `:` and `,`
inside properties too), so user text cannot end a line or add a property.
"""

from __future__ import annotations

from typing import Iterable

from cai_lang.diagnostics.codes import Severity
from cai_lang.diagnostics.model import Diagnostic

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, file: str | None = None, line: int | None = None, col: int | None = None,
               end_line: int | None = None, end_col: int | None = None, title: str | None = None) -> str:
    """One annotation line; properties left None are omitted."""
    props = [("file", file), ("line", line), ("col", col), ("endLine", end_line), ("endColumn", end_col), ("title", title)]
    given = ",".join(f"{k}={_property(str(v))}" for k, v in props if v is not None)
    return f"::{level}{' ' + given if given else ''}::{_data(message)}"


def render_github(diagnostics: Iterable[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        message = d.message
        if d.deployment:
            message += f" (deployment {d.deployment})"
        if d.witness:
            message += " [witness: " + ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in d.witness.items()) + "]"
        if d.help:
            message += f"\nhelp: {d.help}"
        span = d.span
        lines.append(
            annotation(
                _LEVEL[d.severity], message, title=d.code,
                file=span.file if span else None, line=span.line if span else None, col=span.column if span else None,
                end_line=span.end_line if span else None, end_col=span.end_column if span else None,
            )
        )
    return "\n".join(lines)
