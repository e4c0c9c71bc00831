"""What the `caic` command modules share: exit codes, the usage-error exit,
and the option choices more than one command offers."""

from __future__ import annotations

import enum

import typer

USAGE_ERROR = 2  # bad arguments, unreadable input, unloadable model
HAS_ERRORS = 1  # the constitution has errors (or --strict and warnings)


def fail(message: str, code: int = USAGE_ERROR) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


class Dialect(str, enum.Enum):
    chat = "chat"
    text = "text"
