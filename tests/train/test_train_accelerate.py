"""`caic train --phase sl` under `accelerate launch` with two CPU processes.

accelerate's `--cpu` flag alone starts one process (several CPU processes
need mpirun); `--multi_gpu` starts them with torchrun, and with
`use_cpu=True` in the training arguments each process joins a gloo group
on the CPU. Process 0 generates the data while process 1 waits, then both
train with DistributedDataParallel and process 0 saves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from train_testkit import free_port


@pytest.mark.slow
def test_two_cpu_processes_generate_once_and_train_together(tiny_model, constitution_file, tmp_path, subprocess_env):
    from transformers import AutoModelForCausalLM

    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate, "accelerate is not installed beside this Python"
    env = {**subprocess_env, "HF_HOME": str(tmp_path / "hf_home"), "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    command = [
        accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(free_port()), "-m", "cai_lang",
        "train", str(constitution_file), "--model", str(tiny_model), "--phase", "sl", "-o", str(run),
        "--max-prompts", "6", "--rounds", "1", "--max-new-tokens", "8", "--device", "cpu",
        "--max-steps", "2", "--train-batch-size", "2", "--logging-steps", "1", "--max-length", "128",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stderr[-4000:]

    rows = (run / "sl_data.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 6  # generated once, not once per process
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["sl_training"]["processes"] == 2  # as the trainer's accelerator counted them
    assert len(record["commands"]) == 1 and record["commands"][0]["status"] == "done"
    log = json.loads((run / "sl_model" / "training_log.json").read_text(encoding="utf-8"))
    assert sum(1 for e in log["log_history"] if "loss" in e) == 2
    AutoModelForCausalLM.from_pretrained(run / "sl_model")
    assert "processes: 2" in (run / "sl_model" / "README.md").read_text(encoding="utf-8")
