"""`caic eval --report-to`: the evaluation's numbers in the experiment tracker `caic train` logs to.

An evaluation runs no trainer, so nothing of transformers' would log it: it
writes its scalars itself. `tensorboard` is the one tracker it writes to:
the metrics of `metrics.json` (violation, critique-violation and refusal
rates, benign loss, win rate, and per principle or rule) as scalars at step
0, in `DIR/runs/<date>_<host>/` (transformers' naming, the one each trainer
of `caic train` uses inside its own folder; `TENSORBOARD_LOGGING_DIR`
overrides it, as it does for the trainers). `none` logs nothing; `all` is
every supported tracker that is installed. Any other tracker transformers
knows is refused before anything runs, naming what is supported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from cai_lang.errors import CaicError

SUPPORTED = ("tensorboard",)


class TrackerError(CaicError, ValueError):
    """A `--report-to` tracker `caic eval` cannot log to; the message names it and what is supported."""


def eval_trackers(report_to: Sequence[str] | None) -> list[str]:
    """The trackers to log to, checked as `caic train` checks them and then against what `caic eval` can write."""
    from cai_lang.train.settings import ConfigError, check_trackers

    try:
        names = check_trackers(report_to)
    except ConfigError as exc:
        raise TrackerError(str(exc)) from exc
    if names == ["all"]:
        from transformers.integrations.integration_utils import get_available_reporting_integrations

        return [n for n in SUPPORTED if n in get_available_reporting_integrations()]
    for name in names:
        if name not in SUPPORTED:
            raise TrackerError(f"--report-to {name}: caic eval logs its metrics to {', '.join(SUPPORTED)} only (or none)")
    return names


def eval_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """metrics.json's numbers as tensorboard tags (`model/violation_rate`, `win_rate/items/safe`, ...); unmeasured ones left out."""
    found: dict[str, float] = {}

    def put(tag: str, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[tag] = float(value)

    for side in ("model", "baseline"):
        numbers = metrics.get(side)
        if not numbers:
            continue
        put(f"{side}/violation_rate", numbers.get("violation_rate"))
        put(f"{side}/critique_violation_rate", numbers.get("critique_violation_rate"))
        refusal = numbers.get("refusal") or {}
        put(f"{side}/refusal_rate", refusal.get("rate"))
        for kind, rates in (refusal.get("by_kind") or {}).items():
            put(f"{side}/refusal_rate/{kind}", rates.get("rate"))
        put(f"{side}/benign_loss", (numbers.get("benign") or {}).get("loss"))
        for item, rates in (numbers.get("items") or {}).items():
            put(f"{side}/items/{item}/violation_rate", rates.get("violation_rate"))
    wins = metrics.get("win_rate") or {}
    put("win_rate/overall", (wins.get("overall") or {}).get("win_rate"))
    for item, rates in (wins.get("items") or {}).items():
        put(f"win_rate/items/{item}", rates.get("win_rate"))
    return found


def log_eval_metrics(trackers: Sequence[str], folder: Path, metrics: Mapping[str, Any]) -> dict[str, Path]:
    """Write `metrics` to each of `trackers` (from `eval_trackers`); returns where each tracker wrote."""
    written: dict[str, Path] = {}
    if "tensorboard" in trackers:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations.integration_utils import default_logdir

        logs = Path(os.path.expanduser(os.environ.get("TENSORBOARD_LOGGING_DIR") or Path(folder) / default_logdir()))
        writer = SummaryWriter(log_dir=str(logs))
        try:
            for tag, value in eval_scalars(metrics).items():
                writer.add_scalar(tag, value, global_step=0)
        finally:
            writer.close()
        written["tensorboard"] = logs
    return written
