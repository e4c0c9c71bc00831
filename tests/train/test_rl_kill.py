"""Crash safety of `caic generate rl`: SIGKILL it mid-run, resume, and get an uninterrupted run's pairs and labels."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from train_testkit import caic_command, kill_point
from typer.testing import CliRunner

from cai_lang.cli.app import app

ARGS = ["--max-prompts", "12", "--max-new-tokens", "12", "--chunk-size", "1", "--batch-size", "4", "--seed", "7", "--mode", "sample"]


def count_rows(path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_a_killed_rl_generation_resumes_with_no_lost_and_no_duplicated_rows(tiny_model, constitution_file, tmp_path, subprocess_env):
    command = ["generate", "rl", str(constitution_file), "--model", str(tiny_model), *ARGS]
    killed = tmp_path / "killed"
    labels = killed / "rl_labels.jsonl"
    target = kill_point("rl-generate", 1, 8)
    process = subprocess.Popen([*caic_command(), *command, "-o", str(killed)], env=subprocess_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while count_rows(labels) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    before = count_rows(labels)
    assert 1 <= before < 12, f"killed after {before} labels (target {target})"
    assert "finished" not in json.loads((killed / "run.json").read_text())["commands"][-1]

    runner = CliRunner()
    resumed = runner.invoke(app, [*command, "-o", str(killed), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    clean = runner.invoke(app, [*command, "-o", str(tmp_path / "clean")])
    assert clean.exit_code == 0, clean.output

    pairs, reference_pairs = rows(killed / "rl_pairs.jsonl"), rows(tmp_path / "clean" / "rl_pairs.jsonl")
    got, reference = rows(labels), rows(tmp_path / "clean" / "rl_labels.jsonl")
    ids = [row["id"] for row in got]
    assert len(ids) == len(set(ids)) == 12 and [p["id"] for p in pairs] == ids == [row["id"] for row in reference]
    # Chunks are sampled again with the seeds they had: the same text, so the same labels.
    assert [(p["response_a"], p["response_b"]) for p in pairs] == [(p["response_a"], p["response_b"]) for p in reference_pairs]
    assert [row["decided_by"] for row in got] == [row["decided_by"] for row in reference]
    assert [row["p_a"] for row in got] == pytest.approx([row["p_a"] for row in reference], abs=1e-6)
    record = json.loads((killed / "run.json").read_text())
    assert record["outputs"]["rl_labels"]["rows"] == 12 and record["commands"][-1]["status"] == "done"
