"""The steering demo's own script, shrunk: `examples/steering/run.sh` with the 0.25 M-parameter model,
one seed, fewer prompts. It must run through and print one well-formed JSON line per deployment; run
twice with the same seed it must print the same JSON, byte for byte; and each deployment must move its
favoured trait its way while the control moves neither as far (examples/steering/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The demo trains and evaluates a model: without the train extra it is skipped, not failed.
for _library in ("torch", "transformers", "trl"):
    pytest.importorskip(_library, reason="the train extra is not installed (pip install -e .[train])")

REPO = Path(__file__).resolve().parents[2]

REDUCED = {
    "STEER_SIZE": "tiny",
    "STEER_DIALOGUES": "2000",
    "STEER_COMPARISONS": "6000",
    "STEER_PRETRAIN_STEPS": "3000",
    "STEER_EASY_STEPS": "1000",
    "STEER_PRETRAIN_LR": "5e-3",
    "STEER_RL_PROMPTS": "96",
    "STEER_DPO_EPOCHS": "4",
    "STEER_DPO_LR": "5e-4",
    "STEER_EVAL_PROMPTS": "48",
    "STEER_SEEDS": "0",
}


def run_demo(out: Path, **extra: str) -> list[dict]:
    """Run the reduced demo into `out` (it keeps a base model already there) and return its JSON lines."""
    env = {**os.environ, **REDUCED, **extra, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(REPO / "examples" / "steering" / "run.sh"), str(out)],
        env=env, capture_output=True, text=True, timeout=3600,  # a hang guard, not a speed check
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.strip().splitlines()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("steering") / "run"
    return out, run_demo(out)


@pytest.fixture(scope="module")
def reduced(first_run):
    return first_run[1]


@pytest.mark.slow
def test_the_reduced_demo_runs_through_and_reports_every_deployment(reduced):
    rows = {row["deployment"]: row for row in reduced if "deployment" in row}
    assert set(rows) == {"humble", "hands_on", "control"}
    for row in rows.values():
        for trait in ("hedge", "refer"):
            assert 0.0 <= row[trait]["before"]["mean"] <= 1.0 and 0.0 <= row[trait]["after"]["mean"] <= 1.0
            assert len(row[trait]["change"]["per_seed"]) == 1
        assert row["benign_loss"]["before"] > 0
        (dpo,) = row["dpo"]
        # Trained exactly when some label was decisive (DPO's own rule), read from the run's record.
        assert dpo["trained"] == (dpo["decisive_labels"] > 0)
    # The base model writes both traits, about as often as its corpus does.
    before = rows["humble"]
    assert 0.25 <= before["hedge"]["before"]["mean"] <= 0.75 and 0.25 <= before["refer"]["before"]["mean"] <= 0.75
    assert set(reduced[-1]["wall_s"]) >= {"eval_base_s0", "train_humble_s0", "eval_control_s0"}


@pytest.mark.slow
def test_each_deployment_moves_its_favoured_trait_and_the_control_does_not(reduced):
    rows = {row["deployment"]: row for row in reduced if "deployment" in row}
    assert set(rows) == {"humble", "hands_on", "control"}
    humble, hands_on, control = rows["humble"]["hedge"]["change"]["mean"], rows["hands_on"]["refer"]["change"]["mean"], rows["control"]
    assert humble > 0.1, rows["humble"]
    assert hands_on < -0.1, rows["hands_on"]
    # The control's principles say nothing about either trait: it moves each less than half as far.
    assert abs(control["hedge"]["change"]["mean"]) < humble / 2, control
    assert abs(control["refer"]["change"]["mean"]) < abs(hands_on) / 2, control
    # The labels that did the steering followed the favoured principle's question.
    assert rows["humble"]["labels"]["hedge"]["prefers_trait"][0] > 0.5
    assert rows["hands_on"]["labels"]["refer"]["prefers_trait"][0] < 0.5


@pytest.mark.slow
def test_the_same_seed_prints_the_same_json(first_run, tmp_path):
    # The same base model (copied, so run.sh does not pre-train again: the next test checks that step),
    # then sampling, labels, DPO and evaluation again for one deployment.
    out, rows = first_run
    again = tmp_path / "again"
    again.mkdir()
    for name in ("data", "base_model"):
        shutil.copytree(out / name, again / name)
    second = run_demo(again, STEER_DEPLOYMENTS="humble")
    first = [json.dumps(row) for row in rows if row.get("deployment") == "humble"]
    assert [json.dumps(row) for row in second if "deployment" in row] == first


@pytest.mark.slow
def test_pretraining_twice_with_one_seed_gives_the_same_weights(tmp_path):
    runs = []
    for name in ("a", "b"):
        args = [sys.executable, str(REPO / "examples" / "steering" / "world.py"), str(tmp_path / name), "--size", "tiny",
                "--steps", "20", "--dialogues", "200", "--comparisons", "200", "--threads", "2"]
        done = subprocess.run(args, env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append((tmp_path / name / "base_model" / "model.safetensors").read_bytes())
    assert runs[0] == runs[1]
