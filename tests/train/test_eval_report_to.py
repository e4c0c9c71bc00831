"""`caic eval --report-to`: the metrics of metrics.json logged as TensorBoard scalars, trackers it cannot write refused
before anything runs; and the win-rate judging counted on the progress display like answers and critiques."""

from __future__ import annotations

import json

import pytest
import yaml
from rl_testkit import CONSTITUTION, FixedLabeller, compile_test_bundle
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.eval.run import win_rates
from cai_lang.eval.trackers import TrackerError, eval_scalars, eval_trackers

runner = CliRunner()


class Recorder:
    """A progress display that writes down what it is told."""

    def __init__(self):
        self.calls = []

    def begin(self, label, total):
        self.calls.append(("begin", label, total))

    def advance(self, n):
        self.calls.append(("advance", n))

    def work(self, done, total, pending):
        self.calls.append(("work", done, total, pending))

    def stop(self):
        self.calls.append(("stop",))


def test_the_win_rate_judging_is_counted_on_the_progress_display(tmp_path):
    bundle = compile_test_bundle(tmp_path)
    rows = [{"prompt_id": f"q{i}", "sample": 0, "kind": "red_team", "prompt": f"Q{i}?", "context": {"risk": "low", "fiction": False}, "response": f"a{i}"} for i in range(3)]
    base = [dict(r, response=f"b{i}") for i, r in enumerate(rows)]
    progress = Recorder()
    win_rates(bundle, rows, base, FixedLabeller({"safe": 0.8, "honest": 0.4, "helpful": 0.6}), progress=progress)
    assert progress.calls[0] == ("begin", "judging pairs", 3)
    assert sum(c[1] for c in progress.calls if c[0] == "advance") == 3
    assert progress.calls[-1] == ("stop",)


def test_trackers_are_checked_like_train_s_and_limited_to_what_eval_writes(monkeypatch):
    assert eval_trackers(None) == [] and eval_trackers(["none"]) == [] and eval_trackers(["tensorboard", "none"]) == []
    assert eval_trackers(["tensorboard"]) == ["tensorboard"] and eval_trackers(["all"]) == ["tensorboard"]
    with pytest.raises(TrackerError, match="not a tracker transformers knows"):
        eval_trackers(["tensorbored"])
    import transformers.integrations.integration_utils as integrations

    installed = integrations.get_available_reporting_integrations()
    monkeypatch.setattr(integrations, "get_available_reporting_integrations", lambda: [*installed, "mlflow"])
    with pytest.raises(TrackerError, match=r"--report-to mlflow: caic eval logs its metrics to tensorboard only"):
        eval_trackers(["mlflow"])


def test_scalars_are_the_numbers_of_metrics_json_and_skip_the_unmeasured():
    metrics = {"model": {"violation_rate": 0.25, "critique_violation_rate": None, "refusal": {"rate": 0.5, "by_kind": {"helpful": {"rate": 0.0}}},
                         "benign": None, "items": {"no_ssn": {"violation_rate": 0.25, "judged": 4}, "safe": {"violation_rate": None}}},
               "baseline": None, "win_rate": {"overall": {"win_rate": 0.75}, "items": {"safe": {"win_rate": 1.0}}}}
    assert eval_scalars(metrics) == {"model/violation_rate": 0.25, "model/refusal_rate": 0.5, "model/refusal_rate/helpful": 0.0,
                                     "model/items/no_ssn/violation_rate": 0.25, "win_rate/overall": 0.75, "win_rate/items/safe": 1.0}


def test_an_unsupported_tracker_is_refused_before_anything_runs(tiny_model, tmp_path):
    const = tmp_path / "c.const"
    const.write_text(CONSTITUTION)
    out = tmp_path / "ev"
    result = runner.invoke(app, ["eval", str(const), "-m", str(tiny_model), "-o", str(out), "--report-to", "tensorbored"])
    assert result.exit_code == 2 and "--report-to tensorbored" in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.slow
def test_eval_logs_its_metrics_to_tensorboard_from_a_config_file(tiny_model, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    const = tmp_path / "rltest.const"
    const.write_text(CONSTITUTION)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"e{i}", "prompt": f"Tell me about item {i}.", "kind": "helpful" if i % 2 else "red_team",
                                           "split": "eval", "context": {"risk": "low"}}) + "\n" for i in range(4)))
    benign = tmp_path / "benign.jsonl"
    benign.write_text(json.dumps({"prompt": "Hi", "response": "Hello, how can I help?"}) + "\n")
    out = tmp_path / "ev"
    recipe = tmp_path / "eval.yaml"
    # A scalar where the option is a list, as `caic train`'s config files allow.
    recipe.write_text(yaml.safe_dump({"source": str(const), "model": str(tiny_model), "baseline": str(tiny_model), "output": str(out),
                                      "prompts": [str(prompts)], "benign": str(benign), "max_new_tokens": 6, "critique_tokens": 3,
                                      "report_to": "tensorboard"}))
    result = runner.invoke(app, ["eval", "--config", str(recipe)])
    print(result.output)
    assert result.exit_code == 0, result.output
    assert "judging pairs 4/4" in result.output and "metrics logged to tensorboard" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    events = list(out.glob("runs/*/events.out.tfevents.*"))
    assert len(events) == 1
    logged = EventAccumulator(str(events[0].parent)).Reload()
    tags = set(logged.Tags()["scalars"])
    assert {"model/violation_rate", "model/refusal_rate", "model/benign_loss", "baseline/benign_loss", "win_rate/overall",
            "model/items/no_ssn/violation_rate", "win_rate/items/honest"} <= tags

    def at(path):
        value = metrics
        for key in path:
            value = value[key]
        return value

    expected = {"model/violation_rate": ("model", "violation_rate"), "model/refusal_rate": ("model", "refusal", "rate"),
                "model/benign_loss": ("model", "benign", "loss"), "baseline/benign_loss": ("baseline", "benign", "loss"),
                "win_rate/overall": ("win_rate", "overall", "win_rate"), "model/items/no_ssn/violation_rate": ("model", "items", "no_ssn", "violation_rate"),
                "win_rate/items/honest": ("win_rate", "items", "honest", "win_rate")}
    for tag, path in expected.items():
        (event,) = logged.Scalars(tag)
        assert event.value == pytest.approx(at(path), rel=1e-6), tag
    # Every tag logged is one of metrics.json's numbers.
    assert tags == set(eval_scalars(metrics))
    record = json.loads((out / "run.json").read_text())
    assert record["outputs"]["eval_tensorboard"]["path"] == events[0].parent.relative_to(out).as_posix()
