"""The `caic` entry point, with a fast path for `caic check`.

`caic check` runs in editors, pre-commit hooks and CI on every save, so its
start-up time is part of the product. Its arguments are simple enough to
read without typer (which, with click and rich, costs more to import than
the check itself on a small file), so `main` handles a plain `caic check`
here and hands everything else (help, other commands, anything unusual) to
the typer application in `cai_lang.cli`. Both paths run `run_check`.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

FORMATS = ("text", "json", "sarif")


def _use_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (hasattr(stream, "isatty") and stream.isatty())


def run_check(files: list[str], deployment: str | None, output_format: str, strict: bool) -> int:
    """Check `files`, print the report to stdout, and return the exit status."""
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
    else:
        color = _use_color(out)
        for diagnostic in report.diagnostics:
            out.write(render.format_text(diagnostic, report.sources, color) + "\n")
        out.write(f"checked {', '.join(str(f) for f in files)}: {render.summary_line(report.diagnostics)}\n")
    if report.has_errors or (strict and report.has_warnings):
        return 1
    return 0


def _fast_check(args: list[str]) -> int | None:
    """Run `caic check` from its arguments, or None when typer should handle them."""
    files: list[str] = []
    deployment, output_format, strict = None, "text", False
    index = 0
    while index < len(args):
        arg = args[index]
        name, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in ("--deployment", "-d", "--format", "-f"):
            if inline:
                value = inline
            elif index + 1 < len(args):
                index += 1
                value = args[index]
            else:
                return None
            if name in ("--deployment", "-d"):
                deployment = value
            elif value in FORMATS:
                output_format = value
            else:
                return None
        elif arg == "--strict":
            strict = True
        elif arg == "--":
            files.extend(args[index + 1 :])
            break
        elif arg.startswith("-"):
            return None  # --help, unknown options: typer prints the usage
        else:
            files.append(arg)
        index += 1
    if not files:
        return None
    return run_check(files, deployment, output_format, strict)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["check"]:
        try:
            status = _fast_check(args[1:])
            if status is not None:
                sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (`caic check ... | head`): not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            status = 1
        if status is not None:
            sys.exit(status)
    from cai_lang.cli import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
