"""`caic train --data RUN_DIR`: fine-tune a local model on SL or RL data generated elsewhere (here, through the
OpenAI stub server), after checking it was made under the same bundle."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
FAST = ["--max-prompts", "4", "--max-new-tokens", "8", "--deployment", "clinic", "--helpful", "none"]
TRAIN = ["--max-steps", "2", "--train-batch-size", "2", "--logging-steps", "1", "--max-length", "256", "--tie-margin", "0"]


@pytest.fixture(scope="module")
def server_runs(constitution_file, tiny_model, tmp_path_factory):
    """SL and RL data generated on a server, in two run folders (RL pairs sampled there, labelled by a local
    feedback model: the stub's log-probabilities ignore the responses, so its labels would all be ties)."""
    spec = importlib.util.spec_from_file_location("openai_stub", Path(__file__).parents[1] / "engine" / "openai_stub.py")
    stub_module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("openai_stub", stub_module)
    spec.loader.exec_module(stub_module)
    stub, server = stub_module.start_stub()
    folder = tmp_path_factory.mktemp("server_runs")
    try:
        served = f"{stub.url}/v1#served-x"
        for kind in ("sl", "rl"):
            extra = ["--rounds", "1"] if kind == "sl" else ["--feedback-model", str(tiny_model)]
            result = runner.invoke(app, ["generate", kind, str(constitution_file), "-m", served, "-o", str(folder / kind), *FAST, *extra])
            assert result.exit_code == 0, result.output
    finally:
        server.shutdown()
        server.server_close()
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["sl", "rl"])
def test_a_local_model_trains_on_data_a_server_generated(server_runs, tiny_model, constitution_file, tmp_path, phase):
    out = tmp_path / "local"
    result = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--phase", phase,
                                 "--data", str(server_runs / phase), "--deployment", "clinic", *TRAIN])
    assert result.exit_code == 0, result.output
    assert f"training on {phase.upper()} data from {server_runs / phase}" in result.output
    record = json.loads((out / "run.json").read_text())
    imported = record["imported_data"][phase]
    assert imported["from"] == str((server_runs / phase).resolve()) and imported["content_hash"] == record["content_hash"]
    assert any("#served-x" in str(model) for model in imported["models"].values())
    steps = [s["step"] for s in record["commands"][-1]["steps"]]
    assert steps[0] == "import-data" and ("sl-sft" in steps if phase == "sl" else "rl-policy" in steps)
    assert (out / ("sl_model" if phase == "sl" else "rl_policy") / "config.json").exists()


def test_data_made_under_another_bundle_is_refused(server_runs, tiny_model, constitution_file, tmp_path):
    result = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(tmp_path / "x"),
                                 "--data", str(server_runs / "sl")])  # the default deployment, not clinic
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "was made under bundle" in result.output and "another constitution's questions" in result.output
    missing = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(tmp_path / "y"), "--phase", "rl",
                                  "--data", str(server_runs / "sl"), "--deployment", "clinic"])
    assert missing.exit_code == 2 and "no rl_pairs.jsonl" in missing.output
    both = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(tmp_path / "z"), "--phase", "all",
                               "--data", str(server_runs / "sl")])
    assert both.exit_code == 2 and "--phase sl or --phase rl" in both.output
