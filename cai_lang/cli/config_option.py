"""`--config FILE.yaml` on the training commands: the file's values become click's defaults, the command line wins.

`with_config_file(command, groups)` adds the option to a command built by
`cai_lang.cli.options.from_configs`. It is eager, so its callback reads the
file (`cai_lang.train.config_file.read_config_file`) before any other
option is parsed and fills the context's `default_map`: an option given on
the command line overrides the file, one the file leaves out keeps its
default. A file that cannot be used exits 2 with `error: ...`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from cai_lang.cli.common import fail, require_train_extra


def _load(groups: tuple[type, ...]) -> Callable[[Any, Any, Optional[Path]], Optional[Path]]:
    def callback(ctx: Any, param: Any, value: Optional[Path]) -> Optional[Path]:
        if value is None or ctx.resilient_parsing:
            return value
        require_train_extra(f"{ctx.command_path.split(' ', 1)[-1]} --config")
        from cai_lang.train.config_file import ConfigFileError, read_config_file

        try:
            values = read_config_file(value, groups)
        except ConfigFileError as exc:
            raise fail(str(exc))
        ctx.default_map = {**(ctx.default_map or {}), **values}
        return value

    return callback


def with_config_file(command: Callable[..., Any], groups: tuple[type, ...]) -> Callable[..., Any]:
    """`command` with a `--config` option in front of its own (the body never sees it)."""
    signature = inspect.signature(command)
    option = typer.Option(None, "--config", help="A YAML file of these options (by name, flat or in sections); options given here override it.",
                          is_eager=True, callback=_load(groups), show_default=False)
    param = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[Path])

    def wrapped(config: Optional[Path] = None, **values: Any) -> Any:
        return command(**values)

    wrapped.__name__, wrapped.__doc__, wrapped.__module__ = command.__name__, command.__doc__, command.__module__
    wrapped.__signature__ = signature.replace(parameters=[param, *signature.parameters.values()])
    wrapped.__annotations__ = {**getattr(command, "__annotations__", {}), "config": Optional[Path]}
    return wrapped
