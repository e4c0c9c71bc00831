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


def choice(kind: type[enum.Enum]) -> dict:
    """`typer.Option` arguments that parse an enum option themselves, so a wrong value reads
    `'xml' is not one of 'text', 'json'` (typer's own enum parsing prefixes "Value error,")."""
    names = [str(member.value) for member in kind]

    def parse(value):
        if isinstance(value, kind):
            return value
        try:
            return kind(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(repr(n) for n in names)}") from None

    return {"parser": parse, "metavar": "|".join(names)}


class Dialect(str, enum.Enum):
    chat = "chat"
    text = "text"
