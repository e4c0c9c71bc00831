"""Training options from a YAML file (`caic train --config FILE.yaml`), and the effective configuration a run records.

A configuration file names the same options as the command line, by field
name (`max_steps`) or long flag (`max-steps`, `lr`), either flat (as the
alignment-handbook recipes are) or in sections named as `TrainConfig`'s
groups (`run:`, `sl:`, `labels:`, `sft:`, `preference:`, `policy:`, `hub:`), plus
`phase` and the positional `file`. `read_config_file` checks every key
against the options of the command and returns the values by field name;
the CLI hands them to click as defaults, so an option given on the command
line wins. An unknown key, a section that is not a mapping or a file that is
not YAML is refused with the file, the key and the closest option name.
`effective_config` is the inverse: the whole `TrainConfig` as such a
mapping, written to `DIR/config.yaml` and into run.json as `config`, so the
run can be repeated with `--config DIR/config.yaml`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable

from cai_lang.errors import CaicError, describe_os_error
from cai_lang.train.config import cli_fields

CONFIG_FILE = "config.yaml"
SECTIONS = ("run", "sl", "labels", "sft", "preference", "policy", "hub")


class ConfigFileError(CaicError, ValueError):
    """A configuration file that cannot be read or names an option that does not exist."""


def option_names(groups: Iterable[type]) -> dict[str, str]:
    """Every accepted key (field name, long flag without dashes, either spelling) → the field name."""
    names: dict[str, str] = {}
    for group in groups:
        for f in cli_fields(group):
            names[f.name] = f.name
            for flag in f.metadata["flags"]:
                if flag.startswith("--"):
                    for part in flag[2:].split("/"):
                        key = part.lstrip("-")
                        if not key.startswith("no-"):
                            names[key] = names[key.replace("-", "_")] = f.name
    return names


def read_config_file(path: str | Path, groups: Iterable[type]) -> dict[str, Any]:
    """The option values a YAML file sets, by field name; refused with a message naming what is wrong."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(describe_os_error(exc, "read", path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"cannot read {path}: not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ConfigFileError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: a configuration file is a mapping of option names to values, not a {type(data).__name__}")
    names = option_names(groups)
    values: dict[str, Any] = {}

    def take(key: Any, value: Any, where: str) -> None:
        name = names.get(str(key))
        if name is None:
            close = difflib.get_close_matches(str(key), list(names), n=1)
            raise ConfigFileError(f"{path}: unknown option `{where}{key}`" + (f"; did you mean `{close[0]}`?" if close else ""))
        if name in values:
            raise ConfigFileError(f"{path}: option `{name}` is set twice")
        values[name] = value

    for key, value in data.items():
        if key in SECTIONS and key not in names:
            if not isinstance(value, dict):
                raise ConfigFileError(f"{path}: section `{key}` must be a mapping of option names to values")
            for inner, inner_value in value.items():
                take(inner, inner_value, f"{key}.")
        else:
            take(key, value, "")
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def effective_config(config: Any) -> dict[str, Any]:
    """A `TrainConfig` as the mapping `read_config_file` reads back: `phase` and `data`, then one section per group."""
    out: dict[str, Any] = {"phase": config.phase, "data": _plain(getattr(config, "data", None))}
    for section in SECTIONS:
        group = getattr(config, section)
        out[section] = {f.name: _plain(getattr(group, f.name)) for f in cli_fields(type(group))}
    return out


def write_effective_config(run, config: Any) -> Path:
    """`DIR/config.yaml` and run.json's `config`: the options this command ran with, defaults included."""
    import yaml

    from cai_lang.train.run.folder import write_atomic

    effective = effective_config(config)
    run.folder.mkdir(parents=True, exist_ok=True)
    path = run.folder / CONFIG_FILE
    header = "# The effective options of the last `caic train` in this folder; rerun with: caic train --config config.yaml\n"
    write_atomic(path, header + yaml.safe_dump(effective, sort_keys=False, allow_unicode=True))
    run.record.set("config", effective)
    run.record.add_output("config", path, "config")
    return path

