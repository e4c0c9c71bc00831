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
from cai_lang.train.config import cli_fields, option_types

CONFIG_FILE = "config.yaml"
SECTIONS = ("run", "sl", "labels", "sft", "preference", "policy", "hub")
# Sections whose keys that are not caic options are fields of that stage's trl config (`cai_lang.train.trl_args`).
TRL_STAGES = ("sft", "preference", "policy")


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

    from cai_lang.files import read_text_gated

    path = Path(path)
    try:
        data = yaml.safe_load(read_text_gated(path))
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
    groups = tuple(groups)
    names = option_names(groups)
    lists = {name for group in groups for name, is_list in option_types(group).items() if is_list}
    takes_trl = "trl" in names
    values: dict[str, Any] = {}
    trl: dict[str, Any] = {}

    def take(key: Any, value: Any, section: str | None) -> None:
        where = f"{section}." if section else ""
        name = names.get(str(key))
        unknown = None
        if name is None and takes_trl and (section is None or section in TRL_STAGES):
            unknown = _take_trl(path, f"{where}{key}", value, trl)
            if unknown is None:
                return
        if name is None:
            close = difflib.get_close_matches(str(key), list(names) + (unknown.known if unknown else []), n=1)
            if unknown is not None and not close:
                raise ConfigFileError(f"{path}: unknown option `{where}{key}`: neither a caic option nor a field of {unknown.where}")
            raise ConfigFileError(f"{path}: unknown option `{where}{key}`" + (f"; did you mean `{close[0]}`?" if close else ""))
        if name in values:
            raise ConfigFileError(f"{path}: option `{name}` is set twice")
        if name == "trl":
            for item in value if isinstance(value, list) else [value]:
                key_text, _, text = str(item).partition("=")
                _take_trl(path, key_text, yaml.safe_load(text), trl)
            return
        # A scalar where a list is expected (`report_to: tensorboard`) is a list of one.
        values[name] = [value] if name in lists and value is not None and not isinstance(value, list) else value

    for key, value in data.items():
        if key in SECTIONS and key not in names:
            if not isinstance(value, dict):
                raise ConfigFileError(f"{path}: section `{key}` must be a mapping of option names to values")
            for inner, inner_value in value.items():
                take(inner, inner_value, key)
        else:
            take(key, value, None)
    if trl:
        from cai_lang.train.trl_args import as_assignment

        values["trl"] = [as_assignment(k, v) for k, v in trl.items()]
    return values


def _take_trl(path: Path, key: str, value: Any, trl: dict[str, Any]):
    """A key that is no caic option: a field of trl's trainer configs, checked against them (imports trl).
    Returns the `UnknownField` error when it is none of them (the caller names the closest), else None."""
    try:
        from cai_lang.train.trl_args import TrlArgsError, UnknownField, check_key

        checked = check_key(key)
    except UnknownField as exc:
        return exc
    except ImportError as exc:
        raise ConfigFileError(f"{path}: `{key}` is no caic option, and trl is not installed to check it as a trainer setting "
                              "(pip install 'caic[train]')") from exc
    except TrlArgsError as exc:
        raise ConfigFileError(f"{path}: {exc}") from exc
    if checked in trl:
        raise ConfigFileError(f"{path}: trainer setting `{checked}` is set twice")
    trl[checked] = value
    return None


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
    trl = getattr(config, "trl", None)
    if trl is not None and trl.trl:
        from cai_lang.train.trl_args import parse_assignments

        # Written back as a file would set them: plain keys at the top, `STAGE.KEY` in the stage's section.
        for key, value in parse_assignments(trl.trl).items():
            stage, dot, name = key.partition(".")
            if dot:
                out[stage][name] = value
            else:
                out[key] = value
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

