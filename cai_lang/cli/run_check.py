"""`caic check` itself: check files and print the report in the chosen
format. Shared by the typer command and the fast path in `cai_lang.cli.fast`,
so the two can never print different reports."""

from __future__ import annotations

import os
import sys
from typing import TextIO

FORMATS = ("text", "json", "sarif", "github")


def _use_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (hasattr(stream, "isatty") and stream.isatty())


def run_check(files: list[str], deployment: str | None, output_format: str, strict: bool, max_errors: int | None = None) -> int:
    """Check `files`, print the report to stdout, and return the exit status.

    The text report shows at most `max_errors` errors per file (0: all) and
    then a line counting the rest; JSON and SARIF always carry every finding.
    """
    from cai_lang.api import UnknownDeployment, check_files
    from cai_lang.diagnostics import render

    out, err = sys.stdout, sys.stderr
    try:
        report = check_files(list(files), deployment=deployment)
    except UnknownDeployment as exc:
        err.write(f"error: {exc}\n")
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        name = getattr(exc, "filename", None) or "file"
        reason = getattr(exc, "strerror", None) or (f"not UTF-8 text ({exc.reason})" if isinstance(exc, UnicodeDecodeError) else exc)
        err.write(f"error: cannot read {name}: {reason}\n")
        return 2
    if output_format == "json":
        out.write(render.render_json(report.diagnostics) + "\n")
    elif output_format == "sarif":
        out.write(render.render_sarif(report.diagnostics) + "\n")
    elif output_format == "github":
        from cai_lang.diagnostics.github import render_github

        text = render_github(report.diagnostics)
        out.write(text + "\n" if text else "")
    else:
        from cai_lang.diagnostics.model import DEFAULT_MAX_ERRORS, cap_errors

        color = _use_color(out)
        shown, omitted = cap_errors(report.diagnostics, DEFAULT_MAX_ERRORS if max_errors is None else max_errors)
        for diagnostic in shown:
            out.write(render.format_text(diagnostic, report.sources, color) + "\n")
        for file, count in omitted.items():
            out.write(f"... and {count} more error{'' if count == 1 else 's'} in {file or 'the input'} (--max-errors 0 shows all)\n")
        out.write(f"checked {', '.join(str(f) for f in files)}: {render.summary_line(report.diagnostics)}\n")
    if report.has_errors or (strict and report.has_warnings):
        return 1
    return 0
