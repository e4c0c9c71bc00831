"""`caic` commands for the editor side of the tool; registered on the app by `cai_lang.cli.app`.

`caic fmt` rewrites files into the canonical layout (or, with `--check` and
`--diff`, only reports what would change, for CI); `caic fix` applies the
fixes the checker is sure of (`cai_lang.api.fix_text`); `caic lsp` runs the
language server over stdio. Heavy imports stay inside the command bodies so
that `caic check` starts fast, and pygls is imported only by `caic lsp`.
Exit codes: 0 when nothing is wrong, 1 when a file has syntax errors or
(with `--check`) would be reformatted, 2 when a file cannot be read or written.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import List

import typer

from cai_lang.cli.common import USAGE_ERROR
from cai_lang.errors import describe_os_error


def _read(path: Path) -> str:
    # Bytes through the one input gate (a FIFO or a huge file is refused), not
    # read_text: newline translation would hide `\r\n` from the check.
    from cai_lang.files import read_bytes_gated

    return read_bytes_gated(path).decode("utf-8")


def _diff(path: str, before: str, after: str, what: str = "formatted") -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"{path} (original)", f"{path} ({what})"))


def fmt(
    files: List[Path] = typer.Argument(..., help="`.const` files to format; `-` formats standard input to standard output.", show_default=False),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 when a file would be reformatted."),
    diff: bool = typer.Option(False, "--diff", help="Change nothing; print what formatting would change as a unified diff."),
) -> None:
    """Format constitutions into the one canonical layout, keeping every comment."""
    from rich.console import Console

    from cai_lang.cli.printing import print_diagnostics
    from cai_lang.files import write_atomic
    from cai_lang.lsp.formatting import FormatterBug, format_text

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    status = 0
    changed = unchanged = 0
    for path in files:
        shown = str(path)
        from_stdin = shown == "-"
        try:
            text = sys.stdin.read() if from_stdin else _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"[bold red]error:[/] {describe_os_error(exc, 'read', shown)}")
            status = max(status, USAGE_ERROR)
            continue
        try:
            result = format_text(text, "<stdin>" if from_stdin else str(path.resolve()), display=shown)
        except FormatterBug as exc:
            err.print(f"[bold red]error:[/] {exc}; {shown} was left unchanged (this is a bug in caic fmt, please report it)")
            status = max(status, 1)
            continue
        if result.text is None:
            print_diagnostics(result.diagnostics, {result.source.display: result.source})
            err.print(f"{shown}: not formatted until the errors above are fixed")
            status = max(status, 1)
            continue
        if from_stdin and not (check or diff):
            sys.stdout.write(result.text)
            continue
        if not result.changed:
            unchanged += 1
            continue
        changed += 1
        if diff:
            sys.stdout.write(_diff(shown, text, result.text))
        if check:
            err.print(f"would reformat {shown}")
            status = max(status, 1)
        elif not diff:
            try:
                write_atomic(path, result.text)
            except OSError as exc:
                err.print(f"[bold red]error:[/] {describe_os_error(exc, 'write', shown)}; the file was left as it was")
                status = max(status, USAGE_ERROR)
                continue
            err.print(f"reformatted {shown}")
    if changed or unchanged:
        verb = "would be reformatted" if (check or diff) else "reformatted"
        err.print(f"{changed} file{'s' if changed != 1 else ''} {verb}, {unchanged} unchanged")
    raise typer.Exit(status)


def fix(
    file: Path = typer.Argument(..., help="The `.const` file to fix in place.", show_default=False),
    diff: bool = typer.Option(False, "--diff", help="Change nothing; print the fixes as a unified diff."),
) -> None:
    """Apply the fixes caic is sure of (a misspelt name with one close match, the priority or
    `otherwise` the help spells out), then report what is left."""
    from rich.console import Console

    from cai_lang.api import fix_text
    from cai_lang.cli.printing import print_diagnostics
    from cai_lang.diagnostics.render import summary_line

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    shown = str(file)
    try:
        text = _read(file)
        fixed = fix_text(file, text, display=shown)
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[bold red]error:[/] {describe_os_error(exc, 'read', shown)}")
        raise typer.Exit(USAGE_ERROR)
    for code, title in fixed.applied:
        err.print(f"{shown}: fixed {code}: {title}")
    if diff:
        sys.stdout.write(_diff(shown, text, fixed.text, "fixed"))
    elif fixed.applied:
        try:
            file.write_bytes(fixed.text.encode("utf-8"))
        except OSError as exc:
            err.print(f"[bold red]error:[/] {describe_os_error(exc, 'write', shown)}")
            raise typer.Exit(USAGE_ERROR)
    left = fixed.result.diagnostics
    print_diagnostics(left, {s.display: s for s in fixed.result.program.sources.values()}, sys.stderr)
    err.print(f"{shown}: {len(fixed.applied)} fix{'es' if len(fixed.applied) != 1 else ''} {'to apply' if diff else 'applied'}; left: {summary_line(left)}")
    raise typer.Exit(1 if any(d.is_error for d in left) else 0)


def lsp(
    stdio: bool = typer.Option(True, "--stdio", hidden=True, help="Speak over standard input and output (the only transport)."),
) -> None:
    """Run the caic language server over standard input and output."""
    try:
        from cai_lang.lsp.server import main
    except ModuleNotFoundError as exc:  # pygls is an optional extra
        if (exc.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        typer.echo(f"error: the language server needs the lsp extra (pip install 'caic[lsp]'): {exc}", err=True)
        raise typer.Exit(USAGE_ERROR)
    main()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `caic` app."""
    app.command("fmt")(fmt)
    app.command("fix")(fix)
    app.command("lsp")(lsp)
