"""Option help in words: `caic --help` shows `INTEGER`, `PATH ...` or `sl|rl|all` where typer would print Python types.

typer labels each option with its annotation (`<int>`, `<list[Path]>`,
`<bool>` even on a flag that takes no value). `WordsGroup` is the command
group class of the `caic` app and its sub-apps: when a command is looked up
it gives every parameter without a metavar one in words (nothing for a
flag, `NUMBER NUMBER` for a pair, `TEXT ...` for a repeatable option), so every command, the
ones built from the config dataclasses and the ones declared by hand, reads
the same way.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperArgument, TyperGroup

from cai_lang.errors import CaicError

WORDS = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "path": "PATH", "file": "FILE", "directory": "FOLDER", "bool": "", "Path": "PATH", "int range": "INTEGER", "float range": "NUMBER"}


def in_words(label: str) -> str:
    """A typer type label (`<list[Path]>`, `<float,float>`, `<train|eval>`) in words."""
    label = label.strip("<>")
    listed = re.fullmatch(r"list\[(.*)\]", label)
    if listed:
        return f"{in_words(listed.group(1))} ..."
    if "," in label:
        return " ".join(in_words(part) for part in label.split(","))
    if "|" in label:
        return label
    return WORDS.get(label, label.upper())


def humanize(command: Any, ctx: Any) -> Any:
    if getattr(command, "_caic_words", False):
        return command
    help_option = command.get_help_option(ctx) if hasattr(command, "get_help_option") else None
    for param in [*getattr(command, "params", ()), *([help_option] if help_option is not None else [])]:
        if param.metavar is not None:
            continue
        try:
            words = "" if getattr(param, "is_flag", False) else in_words(param.display_type(ctx))
        except Exception:  # noqa: BLE001 - a label typer cannot describe keeps typer's own
            continue
        if getattr(param, "multiple", False) and words and not words.endswith("..."):
            words += " ..."
        if isinstance(param, TyperArgument):
            # An argument's name is its metavar in the usage line; only its type column changes.
            param.display_type_rich = lambda ctx, words=words: words
        else:
            param.metavar = words
    command._caic_words = True
    return command


class WordsGroup(TyperGroup):
    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        return None if command is None else humanize(command, ctx)

    def format_help(self, ctx, formatter):
        humanize(self, ctx)
        return super().format_help(ctx, formatter)

    def invoke(self, ctx):
        # The boundary of every command: an error caic raises for a user that
        # the command did not handle itself ends it with an `error:` line and
        # the error's exit code, never a traceback (`cai_lang.cli.boundary`).
        try:
            return super().invoke(ctx)
        except CaicError as exc:
            from cai_lang.cli.boundary import exit_for

            raise exit_for(exc)
