"""The `caic` command line (typer).

Commands import what they need inside their bodies: `caic check` must start
without torch, transformers or trl, so only the training commands import
`cai_lang.train`. Exit codes follow the language contract: 0 clean (1 with
`--strict` when there are warnings), 1 when there are errors, 2 for usage
and I/O problems.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from cai_lang import __version__
from cai_lang.cli.common import fail, parse_choices
from cai_lang.cli.help_words import WordsGroup
from cai_lang.errors import describe_os_error

app = typer.Typer(
    name="caic",
    help="Constitution-as-code: check, compile and train from `.const` constitutions.",
    no_args_is_help=True,
    # `caic --install-completion` sets up completion in the user's shell.
    add_completion=True,
    pretty_exceptions_enable=False,
    cls=WordsGroup,
)

def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        print(f"caic {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Constitution-as-code for Constitutional AI."""


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


@app.command()
def check(
    files: List[Path] = typer.Argument(..., help="`.const` files to check; `-` reads one from standard input.", show_default=False),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Check only this deployment."),
    output_format: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
    max_errors: int = typer.Option(50, "--max-errors", min=0, help="Errors shown per file in the text report (0: all)."),
) -> None:
    """Check constitutions: syntax, names, types, and contradictions in every deployment."""
    from cai_lang.cli.run_check import run_check

    status = run_check([str(f) for f in files], deployment, output_format.value, strict, max_errors)
    if status:
        raise typer.Exit(status)


@app.command()
def graph(
    file: Path = typer.Argument(..., help="The `.const` file."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write: a .dot, .mmd (Mermaid), .svg or .png file."),
    deployment: str = typer.Option("default", "--deployment", "-d", help="Which deployment to draw."),
) -> None:
    """Draw a deployment's priority order and declared conflicts."""
    from cai_lang.api import UnknownDeployment, check_file
    from cai_lang.cli.printing import print_diagnostics
    from cai_lang.codegen.graph import write_graph
    from cai_lang.ir.resolve import resolve_deployment

    try:
        result = check_file(file, deployment=deployment)
    except UnknownDeployment as exc:
        raise fail(str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(describe_os_error(exc, "read", file))
    if result.errors or result.constitution is None:
        print_diagnostics(result.errors, result.program.source_by_display())
        raise typer.Exit(1)
    resolved = resolve_deployment(result.constitution, deployment)
    try:
        renderer = write_graph(resolved, f"{result.constitution.name} / {deployment}", output)
    except ValueError as exc:
        raise fail(str(exc))
    print(f"wrote {output} ({renderer})")


@app.command()
def explain(code: str = typer.Argument(..., help="A diagnostic code such as E202.")) -> None:
    """Explain a diagnostic code, with a minimal example and its fix."""
    from cai_lang.diagnostics.codes import CODES, lookup

    entry = lookup(code)
    if entry is None:
        raise fail(f"unknown code `{code}`; known codes: {', '.join(CODES)}")
    console = _out()
    console.print(f"[bold]{entry.code}[/] ({entry.severity.value}): {entry.title}\n")
    console.print(entry.explanation + "\n")
    console.print("[bold]Example that triggers it:[/]")
    console.print(_indent(entry.bad), markup=False)
    console.print("[bold]Fixed:[/]")
    console.print(_indent(entry.fixed), markup=False)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip("\n").splitlines()) + "\n"


def _register_command_groups() -> None:
    # Each group lives in its own module so the compile, editor and training
    # commands can grow without crowding this file.
    from cai_lang.cli import compile as cli_compile
    from cai_lang.cli import editor as cli_editor
    from cai_lang.cli import eval as cli_eval
    from cai_lang.cli import redteam as cli_redteam
    from cai_lang.cli import review as cli_review
    from cai_lang.cli import serve as cli_serve
    from cai_lang.cli import train as cli_train
    from cai_lang.cli import trust as cli_trust

    for group in (cli_compile, cli_editor, cli_train, cli_eval, cli_review, cli_redteam, cli_trust, cli_serve):
        group.register(app)
    parse_choices(app)


_register_command_groups()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
