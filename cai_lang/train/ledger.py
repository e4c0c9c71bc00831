"""Every training row's fate, read from the trainer's own processed dataset before it trains.

trl prepares a dataset inside the trainer's constructor: it applies the chat
template, builds the loss mask, cuts to `max_length` and filters what it
will not train on (SFT drops rows left with no loss token; DPO drops rows
whose prompt alone fills `max_length` and its collator cuts the rest; the
reward trainer drops pairs longer than `max_length`). What caic reports as
trained must be what survives that. So once a trainer is built, and before
it trains, `account` asks the same trainer to prepare the same rows again
with no length limit (its own `_prepare_dataset`, the same template and
mask), then reads the dataset it will really train on and passes each of
its rows through the trainer's own collator, and decides per row:

- `kept`: every target token is trained on;
- `truncated`: trained, but `lost` target tokens (revision or response
  tokens) fell past `max_length`;
- `dropped`: the trainer filtered it out (the reason says why).

A target token is one the loss reads: a revision's tokens for SFT, the
chosen and rejected responses' for DPO; the reward model reads each whole
conversation, so its rows are kept or dropped. The ledger is written one
row a line into the run folder and its counts go to run.json, the report
and the model card. `window` names the model's context, the default
`max_length` when the user gives none: nothing that fits the model is cut.
Imports of torch and trl happen inside functions.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

FATES = ("kept", "truncated", "dropped")


@dataclass(frozen=True)
class RowFate:
    """What the trainer does with one row."""

    id: str
    fate: str
    tokens: int  # the whole example, before any cut (for a pair: prompt + the longer response)
    target_tokens: int  # tokens the loss reads, before any cut
    trained_target_tokens: int  # of those, the ones the trainer really trains on
    reason: str = ""


@dataclass
class Ledger:
    """One trainer's rows, each with its fate, and the length limit that decided them."""

    trainer: str
    max_length: int | None
    max_length_from: str  # "--max-length" or "model window"
    window: int | None
    rows: list[RowFate] = field(default_factory=list)

    def count(self, fate: str) -> int:
        return sum(row.fate == fate for row in self.rows)

    @property
    def trained(self) -> int:
        return self.count("kept") + self.count("truncated")

    def summary(self, file: str | None = None) -> dict[str, Any]:
        """The counts run.json, the report and the model card state."""
        out = {"rows": len(self.rows), "trained": self.trained, **{fate: self.count(fate) for fate in FATES},
               "target_tokens_lost": sum(r.target_tokens - r.trained_target_tokens for r in self.rows if r.fate == "truncated"),
               "max_length": self.max_length, "max_length_from": self.max_length_from, "window": self.window,
               "longest_row": max((r.tokens for r in self.rows), default=0)}
        if file:
            out["file"] = file
        return out

    def lines(self) -> list[str]:
        """What the terminal shows before training: the counts, then each row cut or dropped by name."""
        limit = f"max length {self.max_length} ({self.max_length_from})" if self.max_length else "no max length"
        head = (f"{self.trainer}: {len(self.rows)} rows, {self.trained} trained: {self.count('kept')} kept, "
                f"{self.count('truncated')} truncated, {self.count('dropped')} dropped; {limit}")
        out = [head]
        for row in self.rows:
            if row.fate == "truncated":
                out.append(f"{self.trainer}: row {row.id!r} truncated: {row.reason}")
            elif row.fate == "dropped":
                out.append(f"{self.trainer}: row {row.id!r} dropped: {row.reason}")
        return out

    def write(self, path: Path) -> Path:
        """Every row's fate, one JSON object a line."""
        from cai_lang.files import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, "".join(json.dumps({"trainer": self.trainer, **asdict(row)}, ensure_ascii=False) + "\n" for row in self.rows))
        return path


def model_window(model: Any) -> int | None:
    """The context window of a model (an object with a config, or a folder), or None when it names none."""
    config = getattr(model, "config", None)
    if config is None:
        from transformers import AutoConfig

        from cai_lang.train.hardware import full_model

        config = AutoConfig.from_pretrained(str(full_model(model)))
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    text = getattr(config, "text_config", None)
    return model_window(type("M", (), {"config": text})()) if text is not None else None


def fit_max_length(requested: int | None, window: int | None) -> tuple[int | None, str]:
    """(max length, where it came from): the user's, else the model's window (nothing that fits the model is cut)."""
    if requested is not None:
        return requested, "--max-length"
    return window, "model window"


def account(trainer: Any, dataset: Any, ids: Sequence[str], name: str, *, max_length_from: str, window: int | None) -> Ledger | None:
    """The fate of each row of `dataset` (the rows handed to `trainer`, named by `ids`) in `trainer`'s processed
    `train_dataset`: SFT, DPO or reward trainers of trl; None for another trainer (KTO), which is not accounted."""
    kind = _kind(trainer)
    if kind is None:
        return None
    args = trainer.args
    unlimited = copy.copy(args)
    unlimited.max_length = None
    if kind == "sft":
        full = trainer._prepare_dataset(dataset, trainer.processing_class, unlimited, False, None, "ledger")
    else:
        full = trainer._prepare_dataset(dataset, trainer.processing_class, unlimited, "ledger")
    if len(full) != len(ids):
        raise RuntimeError(f"{name}: the trainer prepared {len(full)} rows of {len(ids)} without a length limit")
    used = trainer.train_dataset
    if max_length_from == "model window" and args.max_length != window:
        max_length_from = "--trl max_length"  # the stage's trl keys win over caic's settings
    ledger = Ledger(name, args.max_length, max_length_from, window)
    j = 0
    for index, row_id in enumerate(ids):
        whole = full[index]
        tokens, target = _lengths(kind, whole)
        if j < len(used) and _same_row(kind, whole, used[j]):
            trained = _trained_targets(kind, trainer, used[j])
            j += 1
            lost = target - trained
            if lost > 0:
                reason = f"{lost} of {target} target tokens past max length {args.max_length} (row is {tokens} tokens)"
                ledger.rows.append(RowFate(row_id, "truncated", tokens, target, trained, reason))
            else:
                ledger.rows.append(RowFate(row_id, "kept", tokens, target, trained))
        else:
            ledger.rows.append(RowFate(row_id, "dropped", tokens, target, 0, _drop_reason(kind, whole, args.max_length)))
    if j != len(used):
        raise RuntimeError(f"{name}: {len(used) - j} rows of the trainer's dataset match no input row")
    return ledger


def _kind(trainer: Any) -> str | None:
    from trl import DPOTrainer, RewardTrainer, SFTTrainer

    for cls, kind in ((SFTTrainer, "sft"), (DPOTrainer, "dpo"), (RewardTrainer, "reward")):
        if isinstance(trainer, cls):
            return kind
    return None


def _lengths(kind: str, row: dict) -> tuple[int, int]:
    if kind == "sft":
        return len(row["input_ids"]), sum(label != -100 for label in row["labels"])
    if kind == "dpo":
        prompt, chosen, rejected = len(row["prompt_ids"]), len(row["chosen_ids"]), len(row["rejected_ids"])
        return prompt + max(chosen, rejected), chosen + rejected
    chosen, rejected = len(row["chosen_ids"]), len(row["rejected_ids"])
    return max(chosen, rejected), chosen + rejected


def _same_row(kind: str, whole: dict, used: dict) -> bool:
    if kind == "sft":
        # trl cuts SFT rows in the dataset itself; the kept part is a prefix of the whole row.
        return list(used["input_ids"]) == list(whole["input_ids"][: len(used["input_ids"])])
    keys = ("prompt_ids", "chosen_ids", "rejected_ids") if kind == "dpo" else ("chosen_ids", "rejected_ids")
    return all(list(whole[k]) == list(used[k]) for k in keys)


def _trained_targets(kind: str, trainer: Any, row: dict) -> int:
    """The target tokens the trainer's own collator hands the loss for this one row."""
    if kind == "reward":
        return len(row["chosen_ids"]) + len(row["rejected_ids"])
    batch = trainer.data_collator([row])
    if "completion_mask" in batch:
        return int(batch["completion_mask"].sum())
    return int((batch["labels"] != -100).sum())


def _drop_reason(kind: str, whole: dict, max_length: int | None) -> str:
    if kind == "sft":
        start = next((n for n, label in enumerate(whole["labels"]) if label != -100), len(whole["labels"]))
        return f"no target token within max length {max_length} (the conversation before the revision is {start} tokens)"
    if kind == "dpo":
        return f"the prompt alone is {len(whole['prompt_ids'])} tokens, not under max length {max_length}"
    return (f"chosen {len(whole['chosen_ids'])} / rejected {len(whole['rejected_ids'])} tokens, "
            f"over max length {max_length} (the reward trainer drops longer pairs)")


def ledger_counts(ledger: "Ledger | dict | None") -> dict[str, int]:
    """`rows` (trained), `rows_kept`, `rows_truncated`, `rows_dropped` for a run.json step; empty without a ledger."""
    if ledger is None:
        return {}
    summary = ledger.summary() if isinstance(ledger, Ledger) else ledger
    return {"rows": summary["trained"], **{f"rows_{fate}": summary[fate] for fate in FATES}}


def publish(ledger: Ledger, run: Any, key: str, reporter: Any) -> dict[str, Any]:
    """Before training: print the ledger, write `row_ledger/<key>.jsonl` and put its counts in run.json
    (`row_ledger.<key>`, saved now, so a run killed in training still says what it was training on)."""
    for line in ledger.lines():
        reporter.phase(line)
    path = ledger.write(run.layout.ledger(key))
    summary = ledger.summary(str(path.relative_to(run.folder)))
    run.record.merge("row_ledger", {key: summary})
    run.record.add_output(f"{key}_row_ledger", path, "row_ledger", trainer=ledger.trainer, **{f: summary[f] for f in ("rows", "trained", *FATES)})
    run.save()
    return summary
