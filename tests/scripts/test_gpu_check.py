"""scripts/gpu_check.sh, prepared for a GPU machine, exercised on this CPU: the dry plan (arguments, model
config, wheels), the wheel list's pins, and every stage for real on the tiny config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def run(*args, env_extra=None, timeout=120):
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def test_the_dry_run_plans_a_half_billion_qwen2_in_bf16_and_lists_the_wheels(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "trl-1.16.0-py3-none-any.whl").write_bytes(b"x" * 10)
    done = run("--dry-run", "--steps", "4", env_extra={"CAIC_WHEELS": str(wheels)})
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["model"]["architecture"] == "Qwen2ForCausalLM"
    assert 450e6 < plan["model"]["parameters"] < 550e6
    assert plan["arguments"]["dtype"] == "bf16" and plan["arguments"]["device"] == "cuda" and plan["arguments"]["steps"] == 4
    assert plan["arguments"]["budget"] < 8 * 60
    assert plan["wheels"] == {"folder": str(wheels), "files": ["trl-1.16.0-py3-none-any.whl"], "bytes": 10}
    assert plan["stages"] == ["build", "sl_generation", "sft_full", "sft_lora", "dpo", "grpo"]


def test_the_parameter_formula_matches_transformers():
    torch = pytest.importorskip("torch", reason="the train extra is not installed")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(ROOT / "scripts"))
    import gpu_check

    with torch.device("meta"):
        model = Qwen2ForCausalLM(Qwen2Config(**gpu_check.CONFIGS["qwen2-0.5b"]))
    assert sum(p.numel() for p in model.parameters()) == gpu_check.parameter_count(gpu_check.CONFIGS["qwen2-0.5b"])


def test_the_wheel_list_pins_what_keeps_it_small_and_leaves_the_machine_s_stack_alone():
    lines = [l.split("#")[0].strip() for l in (ROOT / "scripts" / "gpu_check_wheels.txt").read_text().splitlines()]
    names = {l.split("==")[0] for l in lines if l}
    assert {"trl", "datasets", "pyarrow", "pandas"} <= names
    assert not names & {"torch", "transformers", "accelerate", "peft", "z3-solver"}
    assert "pyarrow==21.0.0" in lines
    assert "/wheels/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.slow
def test_every_stage_runs_on_the_tiny_config_on_cpu(tmp_path):
    for name in ("torch", "transformers", "trl", "datasets"):
        pytest.importorskip(name, reason="the train extra is not installed")
    out = tmp_path / "out"
    done = run("--config", "tiny", "--device", "cpu", "--dtype", "fp32", "--out", str(out), "--prompts", "4",
               "--max-new-tokens", "8", "--steps", "1", "--grpo-steps", "1", "--batch-size", "4", "--max-length", "96",
               env_extra={"CAIC_WHEELS": str(tmp_path / "none"), "OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "gpu_check.json").read_text())["stages"]
    assert set(results) == {"build", "sl_generation", "sft_full", "sft_lora", "dpo", "grpo"}
    assert results["sl_generation"]["tokens_per_s"] > 0
    for name in ("sft_full", "dpo", "grpo"):
        assert results[name]["steps"] >= 1 and results[name]["s_per_step"] > 0
        assert 0 < results[name]["weights_changed"]["non_embedding"] <= 1
    assert 0 < results["sft_lora"]["weights_changed"] <= 1
