"""`caic serve reward` and `caic export-data` on the command line: a real server process on 127.0.0.1, always
stopped; refusals as one `error:` line and exit 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from train_testkit import free_port
from typer.testing import CliRunner

from cai_lang.cli.app import app


def test_serve_reward_answers_on_loopback_and_reports_its_throughput_when_stopped(constitution_file, tiny_model, subprocess_env):
    port = free_port()
    command = [sys.executable, "-m", "cai_lang", "serve", "reward", str(constitution_file), "--model", str(tiny_model),
               "--port", str(port), "--device", "cpu"]
    process = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                health = json.loads(urllib.request.urlopen(url + "/health", timeout=5).read())
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {process.communicate(timeout=30)[1][-2000:]}")
                time.sleep(0.5)
        info = json.loads(urllib.request.urlopen(url + "/info", timeout=30).read())
        body = json.dumps({"prompt": "How do I store knives?", "responses": ["In a block.", "On the floor."]}).encode()
        request = urllib.request.Request(url + "/judge", data=body, method="POST", headers={"Content-Type": "application/json"})
        reply = json.loads(urllib.request.urlopen(request, timeout=120).read())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert health["content_hash"] == info["content_hash"] == reply["content_hash"]
    assert info["feedback_models"] == [str(tiny_model.resolve())]
    rewards = [j["reward"] for j in reply["judgements"]]
    assert all(j["status"] == "ok" for j in reply["judgements"]) and sum(rewards) == pytest.approx(1.0)
    assert f"on http://127.0.0.1:{port}" in stderr
    assert "served 2 rewards in 1 batches" in stderr and "0 failed" in stderr


def test_serve_reward_refuses_a_bad_port_and_a_missing_model(constitution_file, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "reward", str(constitution_file), "--model", "x", "--port", "70000"])
    assert result.exit_code == 2 and "not a TCP port" in result.output
    result = runner.invoke(app, ["serve", "reward", str(constitution_file), "--model", str(tmp_path / "nothing-here")])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output


def test_export_data_refuses_a_folder_that_is_not_a_run(tmp_path):
    result = CliRunner().invoke(app, ["export-data", str(tmp_path), "--engine", "verl", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not a caic run folder" in result.output
