"""`--report-to`: every trainer of `caic train` logs to the tracker asked for (TensorBoard here, offline), and a tracker that
cannot work is refused before anything runs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
FAST = ["--max-prompts", "4", "--rounds", "1", "--max-new-tokens", "8", "--max-steps", "2", "--train-batch-size", "2",
        "--logging-steps", "1", "--max-length", "128", "--tie-margin", "0"]


@pytest.mark.slow
def test_tensorboard_leaves_event_files_for_every_trainer(tiny_model, constitution_file, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(constitution_file), "-d", "clinic", "--model", str(tiny_model), "--phase", "all",
                                 "-o", str(run), "--report-to", "tensorboard", *FAST,
                                 "--preference-model", "always"])  # DPO alone would not train it
    assert result.exit_code == 0, result.output
    # Each trainer's steps are short caic lines, not the raw dicts transformers prints.
    assert "{'loss'" not in result.output and "{'train_runtime'" not in result.output
    assert "SFT step 1/2: loss" in result.output and "DPO step 2/2" in result.output
    for trainer in ("sl_model", "preference_model", "rl_policy"):
        events = list((run / trainer).rglob("events.out.tfevents.*"))
        assert events and all(e.stat().st_size > 0 for e in events), trainer
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged = EventAccumulator(str(next((run / "sl_model").rglob("events.out.tfevents.*")).parent)).Reload()
    assert any("loss" in tag for tag in logged.Tags()["scalars"])


@pytest.mark.parametrize("tracker, words", [("tensorbored", "not a tracker transformers knows"), ("neptune", "not installed")])
def test_a_tracker_that_cannot_work_is_refused_first(tiny_model, constitution_file, tmp_path, tracker, words):
    result = runner.invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(tmp_path / "run"), "--report-to", tracker, *FAST])
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "sl_data.jsonl").exists()
