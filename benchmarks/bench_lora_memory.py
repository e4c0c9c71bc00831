"""Benchmark: peak memory of `caic train --phase all` on the ~10 M model, full fine-tuning against LoRA.

Both runs are measured in one invocation, on the same freshly built random
model (`build_tiny_model(size="10m")`, no download), with the same prompts,
steps and seeds; each runs in its own child process, so one run's
allocations cannot hide in the other's peak. A child reports its peak
resident set (`ru_maxrss`) and its resident set after importing torch,
transformers, trl and peft but before any model loads (the baseline the
libraries cost by themselves); the model-attributable peak is the
difference. Prints both peaks, the ratio LoRA / full of each, and the
method (DPO: the RL phase trains no preference model). On a CPU the
library baseline dominates a 10 M model, so the whole-process ratio is near
1; the attributable one shows what LoRA saves (no AdamW state for frozen
weights, no reference copy for DPO).

    python benchmarks/bench_lora_memory.py [--prompts 16] [--steps 4] [--lora-r 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTITUTION, DEPLOYMENT = ROOT / "examples" / "medical.const", "patient_portal"


def rss_now_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(argv: list[str], report: Path) -> int:
    """Run one `caic train` in this process and write its memory figures to `report`."""
    import peft  # noqa: F401 - part of the baseline, as in a LoRA run
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401
    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    baseline = rss_now_kib()
    result = CliRunner().invoke(app, argv)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report.write_text(json.dumps({"exit_code": result.exit_code, "baseline_kib": baseline, "peak_kib": peak,
                                  "output": result.output[-2000:]}))
    return 0


def measure(model: Path, out: Path, args, lora: bool) -> dict:
    argv = ["train", str(CONSTITUTION), "--model", str(model), "-o", str(out), "--phase", "all", "--deployment", DEPLOYMENT,
            "--device", "cpu", "--max-prompts", str(args.prompts), "--rounds", "1", "--max-new-tokens", "16", "--seed", "0",
            "--max-steps", str(args.steps), "--train-batch-size", "4", "--max-length", "256", "--tie-margin", "0"]
    if lora:
        argv += ["--lora-r", str(args.lora_r)]
    report = out.with_suffix(".json")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, __file__, "--child", str(report), "--", *argv], check=True, env=env)
    figures = json.loads(report.read_text())
    if figures["exit_code"] != 0:
        raise SystemExit(f"caic train failed ({'LoRA' if lora else 'full'}):\n{figures['output']}")
    return figures


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[sys.argv.index("--") + 1 :], Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--lora-r", type=int, default=8)
    args = parser.parse_args()
    from cai_lang.engine.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "model", size="10m", seed=0)
        full = measure(model, Path(tmp) / "full", args, lora=False)
        lora = measure(model, Path(tmp) / "lora", args, lora=True)
    mib = lambda kib: kib / 1024  # noqa: E731
    full_model, lora_model = full["peak_kib"] - full["baseline_kib"], lora["peak_kib"] - lora["baseline_kib"]
    print(f"--phase all, 10m model, {args.prompts} prompts, {args.steps} steps per trainer, DPO, CPU")
    print(f"  full fine-tuning: peak RSS {mib(full['peak_kib']):7.1f} MiB, above the libraries' {mib(full['baseline_kib']):.1f} MiB: {mib(full_model):6.1f} MiB")
    print(f"  LoRA r={args.lora_r}:        peak RSS {mib(lora['peak_kib']):7.1f} MiB, above the libraries' {mib(lora['baseline_kib']):.1f} MiB: {mib(lora_model):6.1f} MiB")
    print(f"  ratio LoRA / full: whole process {lora['peak_kib'] / full['peak_kib']:.2f}x, above the libraries {lora_model / full_model:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
