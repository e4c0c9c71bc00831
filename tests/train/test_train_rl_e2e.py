"""`caic train --phase all` end to end on the tiny model (8 prompts: SL data, SL model, pairs with soft labels, a
preference model and a DPO policy), `caic eval` into the finished folder, and a run killed in its last step that
resumes there."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
ARGS = ["--phase", "all", "--deployment", "clinic", "--max-prompts", "8", "--rounds", "1", "--max-new-tokens", "16", "--seed", "2",
        "--max-steps", "2", "--train-batch-size", "4", "--logging-steps", "1", "--max-length", "256",
        # A random feedback model's labels sit within a hair of 0.5: keep them all for DPO.
        "--tie-margin", "0"]
KINDS = {"bundle": "bundle", "sl_data": "sl_data", "sl_model": "sft_model", "rl_pairs": "pairs", "rl_labels": "preference_labels",
         "preference_model": "preference_model", "rl_policy": "policy", "sl_training_log": "training_log",
         "preference_training_log": "training_log", "rl_policy_training_log": "training_log"}


def rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def finished_run(tiny_model, constitution_file, tmp_path_factory):
    """A finished `--phase all` run, the command's output, and how often run.json was read."""
    from cai_lang.train.run.record import RunRecord

    run = tmp_path_factory.mktemp("phase_all") / "run"
    reads = []
    real = RunRecord.reload
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RunRecord, "reload", lambda self: (reads.append(self.path), real(self))[1])
        result = runner.invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(run), *ARGS])
    assert result.exit_code == 0, result.output
    return run, result, reads


@pytest.mark.slow
def test_phase_all_end_to_end_on_cpu(finished_run):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    run, result, reads = finished_run
    assert reads == [run / "run.json"]  # the command opens its run once
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    content_hash = record["content_hash"]

    assert len(rows(run / "sl_data.jsonl")) == 8
    pairs, labels = rows(run / "rl_pairs.jsonl"), rows(run / "rl_labels.jsonl")
    assert len(pairs) == len(labels) == 8 and [p["id"] for p in pairs] == [l["pair_id"] for l in labels]
    assert all(p["policy"] == str((run / "sl_model").resolve()) for p in pairs)  # pairs come from the SL model
    for label in labels:
        assert 0.0 <= label["p_a"] <= 1.0 and label["mode"] == "priority" and label["content_hash"] == content_hash
        assert label["items"] and all(0.0 <= p <= 1.0 for p in label["items"].values())

    preference = AutoModelForSequenceClassification.from_pretrained(run / "preference_model", num_labels=1)
    assert preference.config.num_labels == 1 and preference.config.pad_token_id is not None
    AutoModelForCausalLM.from_pretrained(run / "rl_policy")
    for folder, words in (("sl_model", "SL-CAI"), ("preference_model", "preference model"), ("rl_policy", "RL-CAI policy")):
        card = (run / folder / "README.md").read_text(encoding="utf-8")
        assert content_hash in card and "trainbot" in card and "clinic" in card and words in card and "random weights" in card
        assert json.loads((run / folder / "training_log.json").read_text())["log_history"]
        assert (run / folder / "trainer_state.json").is_file()
    assert json.loads((run / "rl_policy" / "caic_training.json").read_text())["method"] == "DPO"

    outputs = record["outputs"]
    assert {name: outputs[name]["kind"] for name in KINDS} == KINDS
    assert all((run / entry["path"]).exists() for entry in outputs.values())
    assert outputs["rl_policy"]["base_model"] == str((run / "sl_model").resolve())
    assert outputs["rl_labels"]["rows"] == 8 and 0.0 <= outputs["rl_labels"]["mean_p_a"] <= 1.0
    (command,) = record["commands"]
    assert command["status"] == "done"
    assert [s["step"] for s in command["steps"]] == ["sl-generate", "sl-sft", "rl-generate", "rl-preference", "rl-policy"]
    assert set(record["completed"]) == {"sl-sft", "rl-preference", "rl-policy"}
    generation = record["rl_generation"]["generation"]
    assert generation["mode"] == "priority" and generation["clamp"] == [0.4, 0.6] and generation["temperature"] == 1.0
    assert record["rl_generation"]["feedback_models"] == [str((run / "sl_model").resolve())]
    assert (run / "report.html").is_file() and "report.html: report" in result.output
    assert outputs["training_report"]["kind"] == "report"


@pytest.mark.slow
def test_eval_into_a_finished_training_folder_adds_its_page_and_keeps_the_training_ones(finished_run, tiny_model, constitution_file):
    run, _, _ = finished_run
    before = json.loads((run / "run.json").read_text(encoding="utf-8"))
    training_page = (run / "report.html").read_text(encoding="utf-8")
    result = runner.invoke(app, ["eval", str(constitution_file), "--model", str(run / "rl_policy"), "--deployment", "clinic", "-o", str(run),
                                 "--max-prompts", "2", "--max-new-tokens", "4", "--no-critiques", "--seed", "5"])
    assert result.exit_code == 0, result.output
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))

    assert (run / "report.html").read_text(encoding="utf-8") == training_page  # the training report stands
    assert "caic evaluation" in (run / "eval_report.html").read_text(encoding="utf-8")
    outputs = record["outputs"]
    assert outputs["training_report"]["path"] == "report.html" and outputs["eval_report"]["path"] == "eval_report.html"
    assert {name: entry["path"] for name, entry in before["outputs"].items()} == {name: outputs[name]["path"] for name in before["outputs"]}
    # The training models keep their roles; the evaluation's are added beside them.
    assert {k: v for k, v in record["models"].items() if k in before["models"]} == before["models"]
    assert record["models"]["eval_model"] == str((run / "rl_policy").resolve())
    assert record["seed"] == before["seed"] == 2 and record["evaluation"]["seed"] == 5
    assert record["constitution"] == before["constitution"] and record["completed"] == before["completed"]
    assert [c["steps"][-1]["step"] for c in record["commands"]] == ["rl-policy", "eval"]


@pytest.mark.slow
def test_a_run_killed_in_its_last_step_resumes_there(tiny_model, constitution_file, tmp_path, monkeypatch):
    import cai_lang.train.rl.policy as policy

    run = tmp_path / "run"
    command = ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(run), *ARGS, "--max-prompts", "4"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what a Ctrl-C during the policy step leaves behind

    with monkeypatch.context() as patch:
        patch.setattr(policy, "train_policy", killed)
        first = runner.invoke(app, command)
    assert first.exit_code != 0 and not (run / "rl_policy").exists()
    record = json.loads((run / "run.json").read_text())
    assert "finished" not in record["commands"][-1] and set(record["completed"]) == {"sl-sft", "rl-preference"}
    kept = {folder: (run / folder / "model.safetensors").stat().st_mtime_ns for folder in ("sl_model", "preference_model")}

    again = runner.invoke(app, command)
    assert again.exit_code == 2 and "--resume" in again.output  # a folder with data needs --resume
    resumed = runner.invoke(app, [*command, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert kept == {folder: (run / folder / "model.safetensors").stat().st_mtime_ns for folder in kept}
    record = json.loads((run / "run.json").read_text())
    steps = record["commands"][-1]["steps"]
    assert [(s["step"], s.get("skipped", False)) for s in steps] == [
        ("sl-generate", False), ("sl-sft", True), ("rl-generate", False), ("rl-preference", True), ("rl-policy", False)]
    assert steps[0]["written"] == 0 and steps[2]["written"] == 0  # no row generated twice
    assert len(rows(run / "rl_labels.jsonl")) == 4 and (run / "rl_policy" / "README.md").is_file()
    assert set(record["completed"]) == {"sl-sft", "rl-preference", "rl-policy"}

    changed = runner.invoke(app, [*command, "--resume", "--rl-learning-rate", "1e-4"])
    assert changed.exit_code == 2 and "rl-policy" in changed.output and "learning_rate" in changed.output
