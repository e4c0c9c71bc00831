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
