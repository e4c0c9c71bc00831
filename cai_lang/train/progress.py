"""Training steps in caic's progress display: a transformers callback that reports to the command's reporter.

trl's trainers print their logs as raw Python dicts (transformers'
`PrinterCallback`/`ProgressCallback`), which wrap across lines and say
nothing about how far along a run is. `attach(trainer, name)` replaces those
callbacks with `StepProgress` while a reporter is active (`reporting(...)`,
set by the CLI): each step advances the reporter's training bar (steps done
of the trainer's `max_steps`, with rate and ETA), and each log becomes one
line of the few numbers that matter (loss, reward accuracy, learning rate).
Used as a library, with no active reporter, the trainer is left as it is.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

_active: Any = None
# Log keys worth a line, in the order shown, and how they are named there.
SHOWN = (("loss", "loss"), ("rewards/accuracies", "reward acc"), ("rewards/margins", "margin"), ("accuracy", "accuracy"),
         ("reward", "reward"), ("kl", "kl"), ("grad_norm", "grad norm"), ("learning_rate", "lr"))


@contextlib.contextmanager
def reporting(reporter: Any) -> Iterator[None]:
    """Make `reporter` the one training steps are reported to, for the duration of a command."""
    global _active
    before, _active = _active, reporter
    try:
        yield
    finally:
        _active = before


def log_line(logs: dict[str, Any]) -> str:
    """One short line of a trainer's log entry (the closing summary included)."""
    if "train_runtime" in logs:
        loss = logs.get("train_loss")
        return f"done in {float(logs['train_runtime']):.1f} s" + (f", mean loss {float(loss):.4g}" if loss is not None else "")
    parts = []
    for key, label in SHOWN:
        value = logs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            parts.append(f"{label} {value:.3g}")
    return ", ".join(parts)


def attach(trainer: Any, name: str) -> None:
    """Report `trainer`'s steps to the active reporter instead of printing dicts (no-op without one)."""
    reporter = _active
    if reporter is None or not hasattr(reporter, "train_start"):
        return
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    class StepProgress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            reporter.train_start(name, state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            reporter.train_step(state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            line = log_line(dict(logs or {}))
            if line:
                reporter.train_log(f"{name} step {state.global_step}/{state.max_steps}: {line}")

        def on_train_end(self, args, state, control, **kwargs):
            reporter.train_stop()

    for callback in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(callback)
    trainer.add_callback(StepProgress())
