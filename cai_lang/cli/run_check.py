"""`caic check` itself: check files and print the report in the chosen
format. Shared by the typer command and the fast path in `cai_lang.cli.fast`,
so the two can never print different reports."""

from __future__ import annotations

import sys
from pathlib import Path

from cai_lang.cli.printing import print_diagnostics
from cai_lang.errors import describe_os_error

FORMATS = ("text", "json", "sarif", "github")
STDIN = "-"  # `caic check -` reads the constitution from standard input
STDIN_FILE = "<stdin>.const"
STDIN_DISPLAY = "<stdin>"


def run_check(files: list[str], deployment: str | None, output_format: str, strict: bool, max_errors: int | None = None) -> int:
    """Check `files`, print the report to stdout, and return the exit status.

    The text report shows at most `max_errors` errors per file (0: all) and
    then a line counting the rest; JSON and SARIF always carry every finding.
    """
    from cai_lang.api import UnknownDeployment, check_files
    from cai_lang.diagnostics import render

    out, err = sys.stdout, sys.stderr
    overlays: dict[str, str] = {}
    displays: dict[str, str] = {}
    if STDIN in files:
        # `caic check -`: the text is checked as a file in the current folder, so its imports resolve from there.
        try:
            text = sys.stdin.buffer.read().decode("utf-8") if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        except UnicodeDecodeError as exc:
            err.write(f"error: cannot read standard input: not UTF-8 text ({exc.reason})\n")
            return 2
        virtual = str(Path.cwd() / STDIN_FILE)
        overlays[str(Path(virtual).resolve())] = text
        displays[virtual] = STDIN_DISPLAY
        files = [virtual if f == STDIN else f for f in files]
    try:
        report = check_files(list(files), deployment=deployment, overlays=overlays, displays=displays)
        if not strict:  # a suppression that silences nothing is reported by --strict only
            report.diagnostics = [d for d in report.diagnostics if d.kind != "UNUSED_SUPPRESSION"]
    except UnknownDeployment as exc:
        err.write(f"error: {exc}\n")
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        err.write(f"error: {describe_os_error(exc, 'read', fallback='file')}\n")
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

        shown, omitted = cap_errors(report.diagnostics, DEFAULT_MAX_ERRORS if max_errors is None else max_errors)
        print_diagnostics(shown, report.sources, out)
        for file, count in omitted.items():
            out.write(f"... and {count} more error{'' if count == 1 else 's'} in {file or 'the input'} (--max-errors 0 shows all)\n")
        out.write(f"checked {', '.join(displays.get(str(f), str(f)) for f in files)}: {render.summary_line(report.diagnostics)}\n")
    if report.has_errors or (strict and report.has_warnings):
        return 1
    return 0
