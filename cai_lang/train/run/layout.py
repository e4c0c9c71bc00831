"""The names of everything a run folder holds: one place, so no step invents its own.

A run folder (`-o DIR`) is shared by `caic generate`, `caic train` and
`caic eval`; each writes the files named here and registers them in
`DIR/run.json` under the output names below (`cai_lang.train.run.record`).
`RunLayout(folder)` turns the names into paths. Two pages may want
`report.html`: the training report and the evaluation page. The first to
be written keeps it; the other takes its own name (`eval_report.html`,
`training_report.html`), so evaluating into a training folder adds a page
and never replaces one (`RunLayout.page`). The files written for other
tools (`sft.jsonl` and `preferences.jsonl`, by `formats.py`) and the
writer lock (`lock.py`) are named here with the others so they cannot clash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

RUN_FILE = "run.json"
BUNDLE_DIR = "bundle"
SL_DATA = "sl_data.jsonl"
SL_MODEL = "sl_model"
RL_PAIRS = "rl_pairs.jsonl"
RL_LABELS = "rl_labels.jsonl"
PREFERENCE_MODEL = "preference_model"
RL_POLICY = "rl_policy"
REPORT = "report.html"
REPORT_PLOTS = "report_plots"
TRAINING_REPORT_ALT = "training_report.html"
EVAL_METRICS = "metrics.json"
EVAL_RESPONSES = "responses.jsonl"
EVAL_REPORT_ALT = "eval_report.html"
EVAL_PLOTS = "plots"
SL_READY_MARKER = ".sl-data-ready"
# The trl-ready files (cai_lang.train.run.formats), rewritten whole after each generation step.
SFT_EXPORT = "sft.jsonl"
PREFERENCE_EXPORT = "preferences.jsonl"
# SL-CAI's own preference pairs: the final revision chosen over the initial response (the HF recipe's train_prefs).
REVISION_PREFERENCE_EXPORT = "revision_preferences.jsonl"
# Every training row's fate in one trainer's dataset (kept / truncated / dropped), one file per trainer.
LEDGER_DIR = "row_ledger"
# The writer lock a command holds while it works in the folder (`lock.py`).
LOCK = ".caic.lock"

# Output names in run.json's `outputs` map, and the kind each page registers as.
PAGE_OUTPUTS = {"training": "training_report", "eval": "eval_report"}
_ALTERNATIVE = {"training": TRAINING_REPORT_ALT, "eval": EVAL_REPORT_ALT}


@dataclass(frozen=True)
class RunLayout:
    """Paths inside one run folder."""

    folder: Path

    @property
    def run_file(self) -> Path:
        return self.folder / RUN_FILE

    @property
    def bundle_dir(self) -> Path:
        return self.folder / BUNDLE_DIR

    @property
    def sl_data(self) -> Path:
        return self.folder / SL_DATA

    @property
    def sl_model(self) -> Path:
        return self.folder / SL_MODEL

    @property
    def rl_pairs(self) -> Path:
        return self.folder / RL_PAIRS

    @property
    def rl_labels(self) -> Path:
        return self.folder / RL_LABELS

    @property
    def preference_model(self) -> Path:
        return self.folder / PREFERENCE_MODEL

    @property
    def rl_policy(self) -> Path:
        return self.folder / RL_POLICY

    @property
    def sft_export(self) -> Path:
        return self.folder / SFT_EXPORT

    def ledger(self, trainer: str) -> Path:
        """`row_ledger/<trainer>.jsonl`: the fate of each row the trainer was given."""
        return self.folder / LEDGER_DIR / f"{trainer}.jsonl"

    @property
    def preference_export(self) -> Path:
        return self.folder / PREFERENCE_EXPORT

    @property
    def revision_preference_export(self) -> Path:
        return self.folder / REVISION_PREFERENCE_EXPORT

    @property
    def report_plots(self) -> Path:
        return self.folder / REPORT_PLOTS

    @property
    def eval_metrics(self) -> Path:
        return self.folder / EVAL_METRICS

    @property
    def eval_responses(self) -> Path:
        return self.folder / EVAL_RESPONSES

    @property
    def eval_plots(self) -> Path:
        return self.folder / EVAL_PLOTS

    @property
    def sl_ready_marker(self) -> Path:
        return self.folder / SL_READY_MARKER

    def page(self, kind: str, outputs: Mapping[str, Mapping[str, Any]]) -> Path:
        """Where the `kind` page (`training` or `eval`) goes, given the outputs run.json holds.

        `report.html` unless the other kind's page is registered there already.
        """
        other = "eval" if kind == "training" else "training"
        taken = (outputs.get(PAGE_OUTPUTS[other]) or {}).get("path") == REPORT
        return self.folder / (_ALTERNATIVE[kind] if taken else REPORT)
