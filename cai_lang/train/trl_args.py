"""Every field of trl's trainer configs, settable per stage: `--trl KEY=VALUE` and the same keys in `--config FILE.yaml`.

caic's own options (`cai_lang.train.config`) cover what caic decides: the
run folder, the data, the hardware, the step counts every trainer shares.
Every other trainer setting is trl's, taken by its own name from trl's own
config classes instead of being declared again here: `warmup_steps`,
`lr_scheduler_type`, `weight_decay`, `save_steps`, `loss_type`, ... A key
is `FIELD` (every stage whose config has that field) or `STAGE.FIELD` with
STAGE one of `sft` (trl's `SFTConfig`), `preference` (`RewardConfig`) or
`policy` (the config of the `--method`, e.g. `DPOConfig`, `KTOConfig`).
A value is read as YAML (`2`, `0.1`, `cosine`, `[a, b]`, `true`).

`trl_config` builds a trainer's config: caic's values first (from its
options and the machine, `cai_lang.train.hardware`), then these keys,
which win; trl's dataclass checks the result itself. A few keys are caic's
to decide (`RESERVED`: where models go, the device and precision, the Hub):
they are refused with the caic option to use. Old names trl no longer has
(`RENAMED`, e.g. the handbook's `warmup_ratio`) are taken under their new
name. Nothing here imports trl until a key has to be checked or a config
built.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Iterable, Mapping

from cai_lang.train.hardware import HardwareSettings
from cai_lang.train.methods import METHODS

# The policy stage's configs are those of the method registry's methods.
STAGES = {"sft": ("SFTConfig",), "preference": ("RewardConfig",), "policy": tuple(m.config for m in METHODS.values())}

# trl / alignment-handbook keys caic decides itself, and what to use instead.
RESERVED = {
    "output_dir": "--output (each trainer writes into its model folder inside the run folder)",
    "model_name_or_path": "--model",
    "bf16": "--dtype bf16",
    "fp16": "--dtype fp16",
    "use_cpu": "--device cpu",
    "no_cuda": "--device cpu",
    "gradient_checkpointing": "--activation-checkpointing",
    "activation_checkpointing": "--activation-checkpointing",
    "push_to_hub": "--push-to-hub REPO",
    "hub_model_id": "--push-to-hub REPO",
    "hub_private_repo": "--hub-private",
    "resume_from_checkpoint": "--resume (the last checkpoint of the stage that was running)",
    "model_init_kwargs": "--dtype, --device-map and --lora-r",
    "dataset_name": "--prompts (red-team prompts; the training rows are generated from them)",
    "dataset_mixer": "--prompts and --helpful",
    "dataset_mixture": "--prompts and --helpful",
    "dataset_splits": "--split",
    "torch_dtype": "--dtype",
    "dtype": "--dtype",
    "use_peft": "--lora-r",
    "lora_r": "--lora-r",
}
# Names trl 1.16 / transformers 5 dropped, taken under their new name with the same value.
RENAMED = {"warmup_ratio": "warmup_steps", "max_seq_length": "max_length", "evaluation_strategy": "eval_strategy"}


class TrlArgsError(ValueError):
    """A key that names no field of the stage's trl config, or one caic decides itself."""


class UnknownField(TrlArgsError):
    """A key that names no field of the stage's trl configs; `known` are the names it could have meant."""

    def __init__(self, message: str, known: Iterable[str], where: str):
        super().__init__(message)
        self.known, self.where = sorted(known), where


@functools.lru_cache(maxsize=None)
def field_names(config_class: str) -> frozenset[str]:
    """The fields of one of trl's config classes (imports trl)."""
    import trl

    return frozenset(f.name for f in fields(getattr(trl, config_class)) if f.init)


def _split(key: str) -> tuple[str | None, str]:
    stage, dot, name = key.partition(".")
    return (stage, name) if dot else (None, key)


def check_key(key: str) -> str:
    """`key` as stored (renamed if old); refused when it names no field of the stage's configs, or a reserved one."""
    stage, name = _split(key)
    if stage is not None and stage not in STAGES:
        raise TrlArgsError(f"`{key}`: the stage is one of {', '.join(STAGES)}, not `{stage}`")
    name = RENAMED.get(name, name)
    if name in RESERVED:
        raise TrlArgsError(f"`{key}` is set by caic: use {RESERVED[name]}")
    classes = STAGES[stage] if stage else tuple(c for group in STAGES.values() for c in group)
    known = set().union(*(field_names(c) for c in classes))
    if name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        where = f"trl's {' / '.join(classes)}" if stage else "any trl trainer config"
        raise UnknownField(f"`{key}` is not a field of {where}" + (f"; did you mean `{close[0]}`?" if close else ""), known, where)
    return f"{stage}.{name}" if stage else name


def parse_assignments(items: Iterable[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` strings (`--trl`) as {checked key: YAML-read value}; the last of a repeated key wins."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        key, eq, text = str(item).partition("=")
        if not eq or not key.strip():
            raise TrlArgsError(f"--trl {item}: write KEY=VALUE, e.g. --trl sft.warmup_steps=0.1")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TrlArgsError(f"--trl {item}: the value is not YAML ({exc})") from exc
        out[check_key(key.strip())] = value
    return out


def as_assignment(key: str, value: Any) -> str:
    """The `--trl` string of one key (the form config files are turned into)."""
    import json

    return f"{key}={json.dumps(value)}"


def for_stage(assignments: Mapping[str, Any], stage: str, config_class: str) -> dict[str, Any]:
    """The keys that reach `stage`'s `config_class`: plain keys it has, then `stage.` keys (which win)."""
    names = field_names(config_class)
    plain = {k: v for k, v in assignments.items() if "." not in k and k in names}
    own = {}
    for key, value in assignments.items():
        prefix, name = _split(key)
        if prefix == stage:
            if name not in names:
                raise TrlArgsError(f"`{key}` is not a field of trl's {config_class}")
            own[name] = value
    return {**plain, **own}


def trl_config(config_class: str, base: Mapping[str, Any], overrides: Mapping[str, Any]):
    """trl's `config_class` from caic's values `base` with `overrides` on top; trl's own checks apply."""
    import trl

    cls = getattr(trl, config_class)
    try:
        return cls(**{**base, **overrides})
    except (TypeError, ValueError) as exc:
        raise TrlArgsError(f"trl's {config_class} refuses these settings: {exc}") from exc


def write_effective(args, folder) -> None:
    """`FOLDER/trainer_config.json`: every field of the trl config the trainer ran with."""
    import json
    from pathlib import Path

    from cai_lang.train.run.folder import write_atomic

    Path(folder).mkdir(parents=True, exist_ok=True)
    # default=str: model_init_kwargs hold a torch dtype (and maybe a quantization config).
    write_atomic(Path(folder) / TRAINER_CONFIG, json.dumps({"class": type(args).__name__, **args.to_dict()}, indent=2, default=str) + "\n")


TRAINER_CONFIG = "trainer_config.json"


def base_args(output_dir, placement, report_to: Iterable[str], **shared: Any) -> dict[str, Any]:
    """What every trainer's trl config gets from caic: the folder, the machine's device and precision
    (`placement`), the trackers, checkpoints every `save_steps` (trl's 500 unless set) kept two deep for
    `--resume`, and the shared step settings `shared` (already under trl's names)."""
    return {
        "output_dir": str(output_dir),
        **placement.trainer_args(),
        "report_to": list(report_to) or "none",
        "save_strategy": "steps",
        "save_total_limit": 2,
        "disable_tqdm": True,
        **shared,
    }


def train_resumable(trainer, resume: bool):
    """`trainer.train()`, from the last checkpoint in its output folder when `resume` and there is one
    (global step, optimizer, scheduler and RNG state as saved); its config is written beside it first."""
    import os

    from transformers.trainer_utils import get_last_checkpoint

    out = trainer.args.output_dir
    if trainer.accelerator.is_main_process:
        write_effective(trainer.args, out)
    last = get_last_checkpoint(out) if resume and os.path.isdir(out) else None
    return trainer.train(resume_from_checkpoint=last)


def clear_checkpoints(folder) -> None:
    """Remove the `checkpoint-N` folders of a stage that finished: they only serve to resume it."""
    import shutil
    from pathlib import Path

    for path in Path(folder).glob("checkpoint-*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class TrainerSettings:
    """What every caic trainer takes, once: the settings caic's options map onto trl's config (under trl's
    names in `trl_base`), the hardware, the chat-template arguments and the `--trl` keys of its stage.
    `SFTSettings`, `PreferenceTrainingConfig` and `PolicyTrainingConfig` add their own; the options these
    come from, with their help, are `cai_lang.train.config`."""

    STAGE: ClassVar[str] = "trainer"  # how messages name the stage

    output_dir: str = ""
    max_steps: int = -1  # -1: train for num_train_epochs
    num_train_epochs: float = 1.0
    learning_rate: float = 2e-5
    batch_size: int = 8  # per device per step
    gradient_accumulation_steps: int = 1
    max_length: int | None = 1024
    seed: int = 0
    logging_steps: int = 10
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    chat_template_kwargs: dict = field(default_factory=dict)
    # A list, not a tuple: it is recorded in run.json and compared when a run resumes.
    report_to: list[str] = field(default_factory=list)
    trl_args: dict = field(default_factory=dict)  # fields of the stage's trl config (`--trl`); they win over the above

    def __post_init__(self) -> None:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"{self.STAGE} max steps must be positive, or -1 to train by epochs")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError(f"{self.STAGE} batch size and gradient accumulation must be at least 1")

    def trl_config(self, config_class: str, output_dir, placement, **extra: Any):
        """trl's `config_class` for this stage: `base_args`, these settings under trl's names (those the class
        has), `extra` (the stage's own), then `trl_args`. The one mapping of caic's settings onto trl's."""
        names = field_names(config_class)
        shared = {"max_steps": self.max_steps, "num_train_epochs": self.num_train_epochs, "learning_rate": self.learning_rate,
                  "per_device_train_batch_size": self.batch_size, "gradient_accumulation_steps": self.gradient_accumulation_steps,
                  "max_length": self.max_length, "seed": self.seed, "logging_steps": self.logging_steps}
        base = base_args(output_dir, placement, self.report_to, **{k: v for k, v in shared.items() if k in names}, **extra)
        return trl_config(config_class, base, self.trl_args)
