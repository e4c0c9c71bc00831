"""The GPU check: caic's trainers on a randomly initialised ~0.5 B Qwen2-like model in bf16, timed and measured.

Run by scripts/gpu_check.sh on an offline GPU machine (see docs/training.md,
"The GPU check"). Stages, each against a deadline so the whole check stays
inside `--budget` seconds (8 minutes by default): build the model, SL-CAI
generation through caic's critique/revision loop, SFT in full and with
LoRA, DPO, and a few GRPO steps with a reward function. For each it prints
tokens/s (generation), seconds per step (training), peak GPU memory and the
share of weights that changed. Rows of the embedding that the data never
uses get no gradient in any precision, so the share is given over the
non-embedding weights as well as over all of them.

`--dry-run` builds nothing: it prints the plan (arguments, the model's
config and parameter count, the wheels found) as JSON and exits, which is
what the CPU test checks; `--config tiny --device cpu` runs every stage for
real on a 0.25 M model in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What must be importable after the wheels are installed, beside torch, transformers, accelerate, peft.
REQUIRED = ("torch", "transformers", "accelerate", "peft", "trl", "datasets", "cai_lang")
# Qwen2.5-0.5B's shape: 24 layers, 896 wide, GQA with 2 KV heads, tied 151,936-token embedding (~494 M parameters).
CONFIGS = {
    "qwen2-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                       num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=4096),
    "tiny": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1024, tie_word_embeddings=True, max_position_embeddings=2048),
}
CONSTITUTION, DEPLOYMENT = ROOT / "examples" / "medical.const", "patient_portal"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan as JSON and exit")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="qwen2-0.5b")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--dtype", default="bf16", help="compute dtype of every trainer (fp32 masters under autocast)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check_out"))
    parser.add_argument("--wheels", type=Path, default=ROOT / "wheels")
    parser.add_argument("--prompts", type=int, default=32, help="SL generation prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps of SFT and DPO")
    parser.add_argument("--grpo-steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; a stage that would start later is skipped (the last one, GRPO, is short)")
    parser.add_argument("--bundle", type=Path, default=None, help="a bundle folder compiled beforehand (the GPU machine needs no z3)")
    parser.add_argument("--compile-bundle", type=Path, default=None, metavar="DIR", help="compile the check's constitution into DIR and exit")
    return parser.parse_args(argv)


def parameter_count(shape: dict) -> int:
    """Parameters of a Qwen2 causal LM of this shape (q/k/v biases, RMSNorm weights, tied or separate head)."""
    h, i, n, heads, kv, v = (shape[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                 "num_attention_heads", "num_key_value_heads", "vocab_size"))
    kv_width = h // heads * kv
    attention = h * h + h + 2 * (h * kv_width + kv_width) + h * h
    layer = attention + 3 * h * i + 2 * h
    return v * h * (1 if shape["tie_word_embeddings"] else 2) + n * layer + h


def wheels_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.whl")) if folder.is_dir() else []


def plan(args: argparse.Namespace) -> dict:
    shape = CONFIGS[args.config]
    wheels = wheels_in(args.wheels)
    size = sum((args.wheels / w).stat().st_size for w in wheels)
    return {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "model": {"architecture": "Qwen2ForCausalLM", **shape, "parameters": parameter_count(shape), "init": "random, seed 0"},
        "stages": ["build", "sl_generation", "sft_full", "sft_lora", "dpo", "grpo"],
        "wheels": {"folder": str(args.wheels), "files": wheels, "bytes": size},
        "required_imports": list(REQUIRED),
        "constitution": f"{CONSTITUTION.relative_to(ROOT)} ({DEPLOYMENT})",
    }


class Meter:
    """Time and peak device memory of one stage."""

    def __init__(self, device: str):
        import torch

        self.cuda = device == "cuda" and torch.cuda.is_available()
        self.torch = torch

    def __enter__(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.started
        self.peak_gib = self.torch.cuda.max_memory_allocated() / 2**30 if self.cuda else None


def build_model(args, out: Path) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from cai_lang.engine.tiny import FALLBACK_TEXT, train_tokenizer

    tokenizer = train_tokenizer([FALLBACK_TEXT] * 4, 1024)
    shape = dict(CONFIGS[args.config])
    config = Qwen2Config(**shape, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16 if args.device == "cuda" else torch.float32)
    folder = out / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def changed_share(before: Path, after: Path) -> dict:
    """Share of weights that differ between two saved full models: all of them, and without the embedding."""
    import torch
    from safetensors.torch import load_file

    old = load_file(str(before / "model.safetensors"))
    new = load_file(str(after / "model.safetensors"))
    counts = {"all": [0, 0], "non_embedding": [0, 0]}
    for name, tensor in old.items():
        if name not in new:
            continue
        differ = int(torch.ne(new[name].float(), tensor.float()).sum())
        for key in ("all",) + (() if "embed" in name or "lm_head" in name else ("non_embedding",)):
            counts[key][0] += differ
            counts[key][1] += tensor.numel()
    return {k: round(c / t, 4) if t else None for k, (c, t) in counts.items()}


def adapter_share(folder: Path) -> float:
    """Share of LoRA B entries away from their zero initialisation (A starts random)."""
    from safetensors.torch import load_file

    tensors = load_file(str(folder / "adapter_model.safetensors"))
    b = [t for n, t in tensors.items() if "lora_B" in n]
    return round(sum(int((t != 0).sum()) for t in b) / max(1, sum(t.numel() for t in b)), 4)


def steps_per_second(folder: Path) -> tuple[int, float | None]:
    log = json.loads((folder / "training_log.json").read_text())
    summary = [e for e in log["log_history"] if "train_runtime" in e]
    steps = max((e.get("step", 0) for e in log["log_history"]), default=0)
    runtime = summary[-1]["train_runtime"] if summary else None
    return steps, (runtime / steps if runtime and steps else None)


def run(args: argparse.Namespace) -> dict:
    from cai_lang.train.hardware import HardwareSettings, LoraSettings

    deadline = time.monotonic() + args.budget
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    hardware = HardwareSettings(device=args.device, dtype=args.dtype)
    results: dict = {"plan": plan(args), "stages": {}}

    def stage(name):
        if time.monotonic() > deadline:
            results["stages"][name] = {"skipped": "over the time budget"}
            print(f"{name}: skipped, over the {args.budget:.0f} s budget", flush=True)
            return None
        return Meter(args.device)

    with stage("build") as m:
        model_dir = build_model(args, out)
    results["stages"]["build"] = {"seconds": round(m.seconds, 2)}

    rows = sl_stage(args, model_dir, stage, results)
    if rows is None:
        rows = [{"id": f"h{i}", "kind": "helpful", "prompt": f"question {i}", "final_response": f"answer {i} " * 8, "rounds": []}
                for i in range(args.batch_size * 2)]
    sft_stage(args, "sft_full", model_dir, rows, hardware, stage, results)
    sft_stage(args, "sft_lora", model_dir, rows, HardwareSettings(device=args.device, dtype=args.dtype, lora=LoraSettings()), stage, results)
    policy_stage(args, "dpo", model_dir, rows, hardware, stage, results)
    policy_stage(args, "grpo", model_dir, rows, hardware, stage, results)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def load_check_bundle(folder: Path | None):
    """The bundle compiled by `--compile-bundle`, or, without one, compiled now (which needs z3)."""
    if folder is not None and folder.is_dir():
        from cai_lang.codegen.bundle import BUNDLE_FILE, load_bundle

        return load_bundle(folder / DEPLOYMENT / BUNDLE_FILE)
    from cai_lang.api import compile_file

    return compile_file(CONSTITUTION, deployment=DEPLOYMENT)[0]


def compile_bundle(folder: Path) -> None:
    from cai_lang.api import compile_file
    from cai_lang.codegen.compiler import write_bundle

    write_bundle(compile_file(CONSTITUTION, deployment=DEPLOYMENT)[0], folder)


def sl_stage(args, model_dir: Path, stage, results):
    meter = stage("sl_generation")
    if meter is None:
        return None
    from cai_lang.engine.local import LocalBackend
    from cai_lang.train.run.prompts import PromptSelection, select_prompts
    from cai_lang.train.sl.generate import SLGenerationConfig, generate_chunk, row_of

    bundle = load_check_bundle(args.bundle)
    records = select_prompts(PromptSelection(max_prompts=args.prompts, helpful_fraction=0.0))
    config = SLGenerationConfig(rounds=1, max_new_tokens=args.max_new_tokens, chunk_size=args.prompts)
    backend = LocalBackend(str(model_dir), device=args.device, batch_size=args.prompts)
    with meter as m:
        done = generate_chunk(records, policy=backend, critic=None, bundle=bundle, config=config)
    rows = [row_of(w, bundle=bundle, config=config, model="random", critic_model=None) for w in done]
    texts = [r["initial_response"] for r in rows] + [x for r in rows for rd in r["rounds"] for x in (rd["critique"], rd["revision"] or "")]
    tokens = sum(len(backend.tokenizer(t)["input_ids"]) for t in texts)
    backend.close()
    results["stages"]["sl_generation"] = {"seconds": round(m.seconds, 2), "generated_tokens": tokens,
                                          "tokens_per_s": round(tokens / m.seconds, 1), "peak_gib": m.peak_gib, "rows": len(rows)}
    print(f"SL generation: {tokens} tokens in {m.seconds:.1f} s = {tokens / m.seconds:.0f} tok/s, peak {m.peak_gib} GiB", flush=True)
    # A random model's revisions are noise but never empty enough to leave nothing: still, pad to a batch.
    usable = [r for r in rows if (r["final_response"] or "").strip()]
    return usable if len(usable) >= args.batch_size else None


def sft_stage(args, name, model_dir, rows, hardware, stage, results):
    meter = stage(name)
    if meter is None:
        return
    from cai_lang.train.sl.sft import SFTSettings, train_sft

    settings = SFTSettings(max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length, logging_steps=1,
                           learning_rate=2e-5, hardware=hardware)
    with meter as m:
        result = train_sft(rows, model=str(model_dir), output_dir=args.out / name, settings=settings)
    steps, per_step = steps_per_second(args.out / name)
    changed = adapter_share(args.out / name) if hardware.lora else changed_share(model_dir, args.out / name)
    results["stages"][name] = {"seconds": round(m.seconds, 2), "steps": steps, "s_per_step": per_step, "peak_gib": m.peak_gib,
                               "weights_changed": changed, "placement": result.hardware}
    print(f"{name}: {steps} steps, {per_step} s/step, peak {m.peak_gib} GiB, weights changed {changed}", flush=True)


def policy_stage(args, name, model_dir, rows, hardware, stage, results):
    meter = stage(name)
    if meter is None:
        return
    from cai_lang.train.modelcard import Provenance
    from cai_lang.train.rl.policy import PolicyTrainingConfig, train_policy

    provenance = Provenance("gpu_check", None, DEPLOYMENT, "0" * 64, str(args.out))
    common = dict(output_dir=str(args.out / name), batch_size=args.batch_size, logging_steps=1, learning_rate=1e-6, hardware=hardware)
    with meter as m:
        if name == "dpo":
            preference = [{"prompt": [{"role": "user", "content": r["prompt"]}],
                           "chosen": [{"role": "assistant", "content": r["final_response"]}],
                           "rejected": [{"role": "assistant", "content": r.get("initial_response") or "no."}],
                           "soft_label": 0.9, "source": "ai"} for r in rows]
            config = PolicyTrainingConfig(method="dpo", max_steps=args.steps, max_length=args.max_length, **common)
            train_policy(model_dir, config, provenance=provenance, preference_rows=preference)
        else:
            prompts = [{"id": str(i), "prompt": r["prompt"], "context": {}} for i, r in enumerate(rows)]

            def shorter_is_better(prompts, completions, **_):
                return [1.0 / (1.0 + len(str(c))) for c in completions]

            config = PolicyTrainingConfig(method="grpo", max_steps=args.grpo_steps, num_generations=4, max_completion_length=32, **common)
            train_policy(model_dir, config, provenance=provenance, prompts=prompts, reward=shorter_is_better)
    steps, per_step = steps_per_second(args.out / name)
    changed = changed_share(model_dir, args.out / name)
    results["stages"][name] = {"seconds": round(m.seconds, 2), "steps": steps, "s_per_step": per_step, "peak_gib": m.peak_gib,
                               "weights_changed": changed}
    print(f"{name}: {steps} steps, {per_step} s/step, peak {m.peak_gib} GiB, weights changed {changed}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        print(json.dumps(plan(args), indent=2))
        return 0
    if args.compile_bundle is not None:
        compile_bundle(args.compile_bundle)
        print(f"bundle: {args.compile_bundle}")
        return 0
    missing = []
    for name in REQUIRED:
        try:
            __import__(name)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        print("error: not importable: " + ", ".join(missing) + "; install the wheels (scripts/gpu_check.sh does)", file=sys.stderr)
        return 2
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no GPU", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    results = run(args)
    print(json.dumps({"total_seconds": round(time.monotonic() - started, 1),
                      "gpu": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", **results["stages"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
