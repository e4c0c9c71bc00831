"""`caic train --phase all` on a multi-turn red-team file (24 conversations of 3 to 15 turns, six of them past
1,024 tokens) with the tiny model: per trainer the run prints and records rows kept / truncated / dropped, and
run.json, the report and the model cards state exactly the rows each trainer's own processed dataset held when
it trained (read by wrapping trl's `train`, not recomputed). With a max length that cuts rows on purpose the
run completes and names them; without `--max-length` nothing that fits the model's window is cut."""

from __future__ import annotations

import json

import pytest
from conversation_kit import write_conversations
from typer.testing import CliRunner

from cai_lang.cli.app import app

pytestmark = pytest.mark.slow
FAST = ["--deployment", "clinic", "--helpful-fraction", "0", "--max-prompts", "24", "--rounds", "1", "--max-new-tokens", "4",
        "--max-steps", "1", "--train-batch-size", "4", "--preference-model", "always", "--tie-margin", "0", "--device", "cpu"]
STEPS = {"SFT": "sl-sft", "preference model": "rl-preference", "DPO": "rl-policy"}
LEDGER_KEYS = {"SFT": "sft", "preference model": "preference_model", "DPO": "dpo"}


@pytest.fixture
def trained(monkeypatch):
    """What each trl trainer really held when `train()` started: its processed dataset's size and loss tokens."""
    import trl

    seen: dict[str, dict] = {}
    for cls, name in ((trl.SFTTrainer, "SFT"), (trl.RewardTrainer, "preference model"), (trl.DPOTrainer, "DPO")):
        original = cls.train

        def train(self, *args, _original=original, _name=name, **kwargs):
            data = self.train_dataset
            info = {"rows": len(data)}
            if "labels" in data.column_names:
                info["rows_without_loss"] = sum(all(t == -100 for t in labels) for labels in data["labels"])
            seen[_name] = info
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "train", train)
    return seen


def _run(tmp_path, tiny_model, constitution_file, *extra):
    prompts = write_conversations(tmp_path / "conversations.jsonl")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--phase", "all",
                                      "--prompts", str(prompts), *FAST, *extra])
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "run.json").read_text())


def _card_rows(folder, key):
    return json.loads((folder / "caic_training.json").read_text())["data"][key]


def _check_counts_equal_the_trainers(out, output, record, trained):
    assert set(trained) == set(STEPS)
    steps = {s["step"]: s for s in record["commands"][-1]["steps"]}
    report = (out / "report.html").read_text()
    for name, step in STEPS.items():
        ledger = record["row_ledger"][LEDGER_KEYS[name]]
        really = trained[name]["rows"]
        assert ledger["trained"] == really == steps[step]["rows"], name
        assert ledger["kept"] + ledger["truncated"] == really and ledger["rows"] == really + ledger["dropped"]
        assert steps[step]["rows_dropped"] == ledger["dropped"]
        # Printed before training, in one line per trainer.
        assert (f"{name}: {ledger['rows']} rows, {really} trained: {ledger['kept']} kept, {ledger['truncated']} truncated, "
                f"{ledger['dropped']} dropped") in output
        fates = [json.loads(line) for line in (out / ledger["file"]).read_text().splitlines()]
        assert len(fates) == ledger["rows"] and sum(f["fate"] != "dropped" for f in fates) == really
        assert f"<td>{name if name == 'SFT' else LEDGER_KEYS[name]}</td>" in report or LEDGER_KEYS[name] in report
    assert _card_rows(out / "sl_model", "rows trained on") == trained["SFT"]["rows"]
    assert _card_rows(out / "preference_model", "train_rows") == trained["preference model"]["rows"]
    assert _card_rows(out / "rl_policy", "pairs") == trained["DPO"]["rows"]
    # No revision is trained without a loss token: trl keeps none such, and every row it left out is in the ledger.
    assert trained["SFT"]["rows_without_loss"] == 0
    assert "Rows trained" in report


def test_long_conversations_train_whole_and_every_count_is_the_trainers(tiny_model, constitution_file, tmp_path, trained):
    out, output, record = _run(tmp_path, tiny_model, constitution_file)
    _check_counts_equal_the_trainers(out, output, record, trained)
    sft = record["row_ledger"]["sft"]
    # Left to itself the max length is the model's window, and nothing that fits it is cut.
    assert sft["max_length"] == sft["window"] == 2048 and sft["max_length_from"] == "model window"
    assert sft["longest_row"] > 1024
    for key in ("sft", "preference_model", "dpo"):
        assert record["row_ledger"][key]["truncated"] == record["row_ledger"][key]["dropped"] == 0
    # The SFT rows hold the whole conversation as the prompt.
    rows = [json.loads(line) for line in (out / "sft.jsonl").read_text().splitlines()]
    assert max(len(r["prompt"]) for r in rows) >= 13 and all(r["completion"][0]["role"] == "assistant" for r in rows)


def test_a_max_length_that_cuts_rows_completes_and_names_them(tiny_model, constitution_file, tmp_path, trained):
    out, output, record = _run(tmp_path, tiny_model, constitution_file, "--max-length", "400")
    _check_counts_equal_the_trainers(out, output, record, trained)
    for key in ("sft", "preference_model", "dpo"):
        assert record["row_ledger"][key]["dropped"] > 0 and record["row_ledger"][key]["max_length"] == 400
    fates = [json.loads(line) for line in (out / "row_ledger" / "sft.jsonl").read_text().splitlines()]
    for fate in fates:
        if fate["fate"] == "dropped":
            assert f"SFT: row '{fate['id']}' dropped: no target token within max length 400" in output
