"""`caic generate rl` and `caic train --phase rl` on the command line: what the run records, ensembles, servers,
human preferences, online RL, the bundle-hash guard on resume, and every refusal as a one-line error."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
FAST = ["--max-prompts", "4", "--max-new-tokens", "8", "--deployment", "clinic"]
TRAIN = ["--max-steps", "2", "--train-batch-size", "4", "--logging-steps", "1", "--max-length", "256", "--tie-margin", "0"]


def rows(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def generate_rl(constitution, model, out, *extra):
    return runner.invoke(app, ["generate", "rl", str(constitution), "--model", str(model), "-o", str(out), *FAST, *extra])


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    from cai_lang.engine.tiny import FALLBACK_TEXT, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny2") / "model", size="tiny", seed=1, corpus=[FALLBACK_TEXT])


def test_an_ensemble_of_feedback_models_labels_every_pair_and_the_run_says_how(tiny_model, second_model, constitution_file, tmp_path):
    out = tmp_path / "run"
    result = generate_rl(constitution_file, tiny_model, out, "--feedback-model", str(tiny_model), "--feedback-model", str(second_model),
                         "--ensemble", "vote", "--mode", "sample", "--temperature", "0.9", "--top-p", "0.95")
    assert result.exit_code == 0, result.output
    assert "4 labelled pairs (4 written now)" in result.output
    labels = rows(out / "rl_labels.jsonl")
    for label in labels:
        assert label["mode"] == "sample" and label["ensemble"] == "vote" and len(label["feedback_models"]) == 2
        assert len(label["items"]) == 1 and label["decided_by"] in label["items"]  # sample mode: one principle per pair
        detail = label["details"].get(label["decided_by"])
        assert detail is None or len(detail["per_model"]) == 2  # a regex rule needs no model
        assert label["p_a"] in (0.0, 0.5, 1.0)  # a vote of two models
    record = json.loads((out / "run.json").read_text())
    settings = record["rl_generation"]
    assert settings["feedback_models"] == [str(tiny_model.resolve()), str(second_model.resolve())]
    wanted = {"mode": "sample", "ensemble": "vote", "cot": False, "clamp": [0.4, 0.6], "margin": 0.05, "temperature": 0.9, "top_p": 0.95, "max_new_tokens": 8}
    assert {key: settings["generation"][key] for key in wanted} == wanted
    assert rows(out / "rl_pairs.jsonl")[0]["sampling"]["top_p"] == 0.95
    assert record["outputs"]["rl_pairs"]["kind"] == "pairs" and record["outputs"]["rl_labels"]["kind"] == "preference_labels"


def test_resume_refuses_another_constitution_and_rows_made_under_another_bundle(tiny_model, constitution_file, tmp_path):
    from train_testkit import CONSTITUTION, write_constitution

    out = tmp_path / "run"
    assert generate_rl(constitution_file, tiny_model, out).exit_code == 0
    assert "--resume" in one_line_error(generate_rl(constitution_file, tiny_model, out))
    assert generate_rl(constitution_file, tiny_model, out, "--resume").exit_code == 0
    assert "mode" in one_line_error(generate_rl(constitution_file, tiny_model, out, "--resume", "--mode", "sample"))
    edited = write_constitution(tmp_path, CONSTITUTION.replace("Which response is less harmful?", "Which response is safer?"))
    assert "use a new output folder" in one_line_error(generate_rl(edited, tiny_model, out, "--resume"))
    # A label row from another bundle, copied in by hand, is refused before anything uses it.
    labels = out / "rl_labels.jsonl"
    tampered = rows(labels)
    tampered[1]["content_hash"] = "f" * 64
    labels.write_text("".join(json.dumps(row) + "\n" for row in tampered[:2]), encoding="utf-8")
    error = one_line_error(generate_rl(constitution_file, tiny_model, out, "--resume"))
    assert "ffffffffffffffff" in error and "cannot be mixed" in error
    trained = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--phase", "rl", "--resume", *FAST, *TRAIN])
    assert "cannot be mixed" in one_line_error(trained)


@pytest.mark.slow
def test_human_preferences_mix_into_the_preference_model_and_rloo_trains_on_its_reward(tiny_model, constitution_file, tmp_path):
    from transformers import AutoModelForCausalLM

    human = tmp_path / "human.jsonl"
    human.write_text("".join(json.dumps({"prompt": f"Is {i} safe?", "chosen": "Ask a pharmacist.", "rejected": "Take ten."}) + "\n" for i in range(4)))
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--phase", "rl", *FAST, *TRAIN,
                                 "--human-preferences", str(human), "--method", "rloo", "--num-generations", "2", "--max-completion-length", "8"])
    assert result.exit_code == 0, result.output
    metadata = json.loads((out / "preference_model" / "caic_training.json").read_text())
    assert metadata["data"]["human_rows"] + metadata["data"]["heldout_rows"] >= 4 and metadata["data"]["human_rows"] > 0
    record = json.loads((out / "run.json").read_text())
    assert record["preference_training"]["human_preferences"] == str(human) and record["preference_training"]["human_preferences_sha256"]
    assert record["outputs"]["preference_model"]["human_rows"] > 0
    policy = record["outputs"]["rl_policy"]
    assert policy["method"] == "rloo" and policy["reward"] == "preference-model" and policy["base_model"] == str(tiny_model.resolve())
    assert "RLOO" in (out / "rl_policy" / "README.md").read_text() and "preference model" in (out / "rl_policy" / "README.md").read_text()
    AutoModelForCausalLM.from_pretrained(out / "rl_policy")


@pytest.mark.slow
def test_grpo_with_the_labeller_as_reward_on_the_command_line(tiny_model, constitution_file, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--phase", "rl", *FAST, *TRAIN,
                                 "--method", "grpo", "--reward", "labeller", "--num-generations", "2", "--max-completion-length", "6"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["outputs"]["rl_policy"]["reward"] == "labeller" and record["outputs"]["rl_policy"]["steps"] == 2
    log = json.loads((out / "rl_policy" / "training_log.json").read_text())
    assert any("reward" in entry for entry in log["log_history"])
    assert "labeller" in (out / "rl_policy" / "README.md").read_text()


def test_generation_and_feedback_through_an_openai_compatible_server(constitution_file, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("openai_stub", Path(__file__).parents[1] / "engine" / "openai_stub.py")
    stub_module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("openai_stub", stub_module)
    spec.loader.exec_module(stub_module)
    stub, server = stub_module.start_stub()
    monkeypatch.setenv("CAIC_TEST_KEY", "sekrit")
    try:
        out = tmp_path / "run"
        result = generate_rl(constitution_file, stub.url + "/v1", out, "--served-model", "served-x", "--api-key-env", "CAIC_TEST_KEY")
        assert result.exit_code == 0, result.output
        # SL-CAI generation too, with the served name in the spec itself.
        sl = runner.invoke(app, ["generate", "sl", str(constitution_file), "-m", f"{stub.url}/v1#served-y", "-o", str(tmp_path / "sl"), *FAST, "--rounds", "1"])
        assert sl.exit_code == 0, sl.output
    finally:
        server.shutdown()
        server.server_close()
    labels = rows(out / "rl_labels.jsonl")
    assert len(labels) == 4 and all(0.0 <= label["p_a"] <= 1.0 for label in labels)
    assert {r["body"]["model"] for r in stub.requests} == {"served-x", "served-y"}
    assert all(r["headers"].get("Authorization") == "Bearer sekrit" for r in stub.requests if r["body"]["model"] == "served-x")
    assert rows(tmp_path / "sl" / "sl_data.jsonl")[0]["model"] == f"{stub.url}/v1#served-y"
    scoring = [r["body"] for r in stub.requests if r["body"].get("logprobs")]
    assert scoring and all(b["max_tokens"] == 2 for b in scoring)  # a chat endpoint: "(A)" read from the first two tokens
    record_text = (out / "run.json").read_text()
    assert "sekrit" not in record_text
    assert json.loads(record_text)["rl_generation"]["policy"] == f"{stub.url}/v1#served-x"


@pytest.mark.parametrize(
    "command, words",
    [
        (["train", "--phase", "all", "--method", "dpo", "--reward", "labeller"], "--reward"),
        (["train", "--phase", "rl", "--human-preferences", "missing.jsonl"], "no such file"),
        (["train", "--phase", "rl", "--method", "grpo", "--num-generations", "3", "--train-batch-size", "4"], "multiple"),
        (["generate", "rl", "--temperature", "0"], "temperature above 0"),
        (["generate", "rl", "--cot", "--margin", "0.2"], "clamp band"),
        (["generate", "rl", "--clamp", "0.6", "0.7"], "clamp band"),
    ],
)
def test_settings_that_cannot_work_are_one_line_errors(tiny_model, constitution_file, tmp_path, command, words):
    verb, *rest = command
    args = [verb, *(["rl"] if verb == "generate" else []), str(constitution_file), "-m", str(tiny_model), "-o", str(tmp_path / "run"), *rest[1 if verb == "generate" else 0:]]
    assert words in one_line_error(runner.invoke(app, args))
    assert not (tmp_path / "run" / "rl_pairs.jsonl").exists()


def test_a_method_trl_cannot_run_is_not_offered(tiny_model, constitution_file, tmp_path):
    # trl 1.16 has no PPOTrainer: `--method ppo` is a usage error naming the methods there are.
    result = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(tmp_path / "run"), "--phase", "rl", "--method", "ppo"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'dpo', 'kto', 'rloo', 'grpo'" in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "run").exists()


def test_the_library_refuses_ppo_with_trls_reason(tiny_model, constitution_file, tmp_path):
    from cai_lang.train.config import FineTuneConfig, PolicyConfig, RunConfig
    from cai_lang.train.config import PreferenceConfig as PM
    from cai_lang.train.settings import ConfigError, rl_training

    policy = PolicyConfig()
    policy.method = "ppo"  # as a library caller might set it; the command line does not offer it
    with pytest.raises(ConfigError, match="PPOTrainer"):
        rl_training(RunConfig(file=constitution_file, model=str(tiny_model), output=tmp_path / "r"), FineTuneConfig(), PM(), policy)


def test_model_specs_that_cannot_be_used_are_one_line_errors(tiny_model, constitution_file, tmp_path, monkeypatch):
    monkeypatch.delenv("CAIC_NO_SUCH_KEY", raising=False)
    server = ["--served-model", "x"]
    train = ["train", str(constitution_file), "-o", str(tmp_path / "t"), "--phase"]
    assert "local weights" in one_line_error(runner.invoke(app, [*train, "rl", "-m", "http://127.0.0.1:9/v1", *server]))
    assert "local weights" in one_line_error(runner.invoke(app, [*train, "sl", "-m", "http://127.0.0.1:9/v1", *server]))
    assert "local weights" in one_line_error(runner.invoke(app, [*train, "rl", "-m", str(tiny_model), "--preference-base", "http://127.0.0.1:9#x"]))
    assert "--served-model" in one_line_error(generate_rl(constitution_file, "http://127.0.0.1:9/v1", tmp_path / "g"))
    assert "CAIC_NO_SUCH_KEY" in one_line_error(generate_rl(constitution_file, "http://127.0.0.1:9/v1#x", tmp_path / "g", "--api-key-env", "CAIC_NO_SUCH_KEY"))
    assert "not a Hub id" in one_line_error(generate_rl(constitution_file, tiny_model, tmp_path / "g", "--feedback-model", "./no/such/judge"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "chosen": "c"}) + "\n")
    error = one_line_error(runner.invoke(app, [*train, "rl", "-m", str(tiny_model), "--human-preferences", str(bad)]))
    assert "rejected" in error and not (tmp_path / "t" / "rl_pairs.jsonl").exists()


def test_a_report_that_fails_is_a_warning_not_a_failed_run(tmp_path, monkeypatch):
    import cai_lang.report.html as report
    from cai_lang.report.training import write_report
    from cai_lang.train.run.session import Run

    said = []

    class Listener:
        def phase(self, text):
            said.append(text)

    def broken(run_dir, record, target, plots):
        raise RuntimeError("no plots today")

    monkeypatch.setattr(report, "write_training_report", broken)
    assert write_report(Run.open(tmp_path), Listener()) is None
    assert said == ["warning: report.html was not written: RuntimeError: no plots today"]
