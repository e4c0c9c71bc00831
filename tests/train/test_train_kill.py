"""Crash safety: SIGKILL `caic generate sl` mid-run, resume it, and get an uninterrupted run's dataset."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from train_testkit import caic_command, kill_point
from typer.testing import CliRunner

from cai_lang.cli.app import app

ARGS = ["--max-prompts", "12", "--rounds", "2", "--max-new-tokens", "16", "--chunk-size", "1", "--batch-size", "4", "--seed", "5"]


def count_rows(path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_a_killed_generation_resumes_with_no_lost_and_no_duplicated_rows(tiny_model, constitution_file, tmp_path, subprocess_env):
    command = ["generate", "sl", str(constitution_file), "--model", str(tiny_model), *ARGS]
    killed = tmp_path / "killed"
    data = killed / "sl_data.jsonl"
    # Kill after a seeded number of rows, between the first and the last.
    target = kill_point("sl-generate", 1, 7)
    process = subprocess.Popen([*caic_command(), *command, "-o", str(killed)], env=subprocess_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while count_rows(data) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    written_before = count_rows(data)
    assert 1 <= written_before < 12, f"killed after {written_before} rows (target {target})"
    record = json.loads((killed / "run.json").read_text())
    assert "finished" not in record["commands"][-1]  # the record shows the run was cut short

    runner = CliRunner()
    resumed = runner.invoke(app, [*command, "-o", str(killed), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    clean = runner.invoke(app, [*command, "-o", str(tmp_path / "clean")])
    assert clean.exit_code == 0, clean.output

    after = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    reference = [json.loads(line) for line in (tmp_path / "clean" / "sl_data.jsonl").read_text(encoding="utf-8").splitlines()]
    ids = [row["id"] for row in after]
    assert len(ids) == len(set(ids)) == 12
    assert ids == [row["id"] for row in reference]
    assert [row["principles"] for row in after] == [row["principles"] for row in reference]
    # Chunks are redone with the seeds they had, so even the sampled text matches.
    assert [row["final_response"] for row in after] == [row["final_response"] for row in reference]
    record = json.loads((killed / "run.json").read_text())
    assert record["outputs"]["sl_data"]["rows"] == 12 and record["commands"][-1]["status"] == "done"
