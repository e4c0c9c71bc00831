"""Typer parameters built from the config dataclasses, so every option is declared once, in its config.

`from_configs(*groups)` turns a function that takes the parsed values into
a typer command whose parameters are the fields of `groups` declared with
`cai_lang.train.config.option`: their flags, help, help panel, default and
type, a field with `choices` shown as a choice. `build(group, values)` makes
the config back from the parsed values; a value the config refuses exits 2
with its message. Nothing here imports torch.
"""

from __future__ import annotations

import enum
import functools
import inspect
import typing
from dataclasses import MISSING
from typing import Any, Callable, Mapping

import typer

from cai_lang.cli.common import fail
from cai_lang.train.config import cli_fields

_CHOICES: dict[tuple[str, ...], type[enum.Enum]] = {}


def _choice(name: str, choices: tuple[str, ...]) -> type[enum.Enum]:
    # One enum per set of choices, so the same choice list shows the same way everywhere.
    if choices not in _CHOICES:
        _CHOICES[choices] = enum.Enum(name.title().replace("_", ""), {c: c for c in choices}, type=str)
    return _CHOICES[choices]


def _annotation(hint: Any, choices: tuple[str, ...] | None, name: str) -> Any:
    """The type typer parses: Optional, lists and tuples in typing's spelling, a choice as an enum."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    if choices:
        hint = _choice(name, choices)
    elif typing.get_origin(hint) is list or (typing.get_origin(hint) is tuple and typing.get_args(hint)[-1] is Ellipsis):
        hint = typing.List[typing.get_args(hint)[0]]  # noqa: UP006 - typer reads typing's generics; a repeatable option
    elif typing.get_origin(hint) is tuple:
        hint = typing.Tuple[typing.get_args(hint)]  # noqa: UP006
    return typing.Optional[hint] if optional else hint  # noqa: UP007


def parameters(*groups: type) -> list[inspect.Parameter]:
    """One keyword parameter per option field of `groups`, with its `typer.Option` / `typer.Argument`."""
    params = []
    for group in groups:
        hints = typing.get_type_hints(group)
        for f in cli_fields(group):
            meta = f.metadata
            default = f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING else ...)
            annotation = _annotation(hints[f.name], meta["choices"], f.name)
            if meta["choices"] and default not in (None, ...):
                default = _choice(f.name, meta["choices"])(default)
            if meta["argument"]:
                info = typer.Argument(default, help=meta["help"], show_default=False)
            else:
                info = typer.Option(default, *meta["flags"], help=meta["help"], rich_help_panel=meta["panel"])
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation))
    return params


def from_configs(*groups: type) -> Callable[[Callable[[dict[str, Any]], None]], Callable[..., None]]:
    """Decorate `body(values)` into a typer command taking the options of `groups`."""

    def wrap(body: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        params = parameters(*groups)

        @functools.wraps(body)
        def command(**values: Any) -> None:
            return body({k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()})

        del command.__wrapped__  # typer must see the built signature, not the body's
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


def build(group: type, values: Mapping[str, Any], **extra: Any):
    """The `group` config of the parsed values; a value it refuses exits 2 with its message."""
    try:
        return group(**{f.name: values[f.name] for f in cli_fields(group)}, **extra)
    except ValueError as exc:
        raise fail(str(exc))
