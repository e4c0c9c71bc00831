"""The one way the `caic` commands print diagnostics in text form: colour when the stream is a terminal.

Every command that shows diagnostics (`check`, `compile`, `graph`, `fmt`,
`generate`, `train`, `eval`) prints them here, each as
`cai_lang.diagnostics.render.format_text` lays it out, then, if asked, one
summary line built from `render.summary_line`. `NO_COLOR` turns colour off
and `FORCE_COLOR` on. Plain standard library, so the fast `caic check` path
(no typer, no rich) uses it too.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Mapping, Sequence, TextIO


def use_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (hasattr(stream, "isatty") and stream.isatty())


def print_diagnostics(
    diagnostics: Sequence,
    sources: Mapping,
    out: TextIO | None = None,
    *,
    summary: Callable[[str], str] | None = None,
) -> None:
    """Write each diagnostic to `out` (default: stderr), then `summary(summary_line)` if given."""
    from cai_lang.diagnostics import render

    out = out if out is not None else sys.stderr
    color = use_color(out)
    for diagnostic in diagnostics:
        out.write(render.format_text(diagnostic, sources, color) + "\n")
    if summary is not None:
        out.write(summary(render.summary_line(diagnostics)) + "\n")
    out.flush()


def print_refused(refused, what: str = "nothing generated", out: TextIO | None = None) -> None:
    """A compile refused for errors (`cai_lang.api.CompileRefused`): its diagnostics, then `N errors: what`."""
    print_diagnostics(refused.result.diagnostics, refused.sources, out, summary=lambda line: f"{line}: {what}")
