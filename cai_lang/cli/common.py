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


def parse_choices(app: typer.Typer) -> None:
    """Give every enum option and argument of `app` (its groups included) the `choice` parser,
    so no command, present or future, shows typer's "Value error," wording."""
    import inspect
    import typing

    from typer.models import ParameterInfo

    groups = [app]
    while groups:
        group = groups.pop()
        groups += [info.typer_instance for info in group.registered_groups if info.typer_instance is not None]
        for command in group.registered_commands:
            if command.callback is None:
                continue
            hints = typing.get_type_hints(command.callback)
            for name, parameter in inspect.signature(command.callback).parameters.items():
                hint = hints.get(name, parameter.annotation)
                kinds = [a for a in (typing.get_args(hint) or (hint,)) if isinstance(a, type) and issubclass(a, enum.Enum)]
                info = parameter.default
                if kinds and isinstance(info, ParameterInfo) and info.parser is None:
                    made = choice(kinds[0])
                    info.parser = made["parser"]
                    info.metavar = info.metavar or made["metavar"]


class Dialect(str, enum.Enum):
    chat = "chat"
    text = "text"


# What `caic generate`, `train`, `eval`, `tiny-model` and `--config` import: the train extra.
TRAIN_EXTRA = ("torch", "transformers", "trl", "datasets", "accelerate", "yaml")


def require_train_extra(command: str, models: tuple = ()) -> None:
    """Exit 2 with one line, before anything is read or created, when the train extra is not installed.

    With `models`, only when one of them is loaded here: models that are all servers (http://...) are
    only sent requests, which needs no torch."""
    import importlib.util

    if models:
        from cai_lang.train.run.model_specs import is_server

        if all(is_server(str(spec)) for spec in models if spec):
            return

    missing = [name for name in TRAIN_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        names = ", ".join("pyyaml" if name == "yaml" else name for name in missing)
        raise fail(f"`caic {command}` needs the train extra ({names} not installed): pip install 'caic[train]'")
