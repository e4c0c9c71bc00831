"""Benchmark: SL-CAI data generation throughput against two baselines, on a ~10 M-parameter model.

All three are measured in one process, on the same freshly built random
model (`build_tiny_model(size="10m")`, no download), on the same token
volume:

- SL generation: `generate_sl` as `caic generate sl` runs it: red-team
  prompts in chunks of `--batch-size`, each step of each round one batched
  `generate` call, templates rendered from the compiled bundle, rows
  written and fsynced, and the engine's prefix reuse on (each row's KV
  cache kept from one step to the next, so a critique or revision prompt
  feeds only what the step added).
- raw `model.generate`: every `generate` call an SL run *without* prefix
  reuse makes to the model (recorded once), replayed with the same input
  ids, attention masks and generation arguments, straight to
  `model.generate`. This is the naive ceiling: batched generation with
  none of caic's rendering, tokenising, bookkeeping or writing, and no
  reuse either, so beating it is what reuse buys.
- one prompt at a time: the same SL loop with batch and chunk size 1 and no
  reuse, the way a simple loop over prompts would run it.

Tokens are counted from what `model.generate` returned (new tokens up to
and including EOS) in every case. A random model almost never emits EOS,
so nearly every completion runs to `--max-new-tokens` and the volumes match.
Prints tokens/s for each and two ratios: SL over raw (goal >= 1.3x) and SL
over one-at-a-time (goal >= 10x); then the peak RSS of one SL run with and
one without reuse, each in a fresh child process (`--no-rss` skips it). The three runs are interleaved and
repeated (`--repeats`), and the ratios are medians of per-repeat ratios, so
a neighbour's burst of load on a shared machine skews one repeat, not the
result.

    python benchmarks/bench_engine.py [--prompts 32] [--rounds 2] [--max-new-tokens 32] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CONSTITUTION = """constitution bench {
    version "0.1.0"
}

context {
    topic: general | medical | legal | financial | creative | support
}

principle harmless {
    weight 2.0
    critique "Point out anything in the last response that could help someone cause harm."
    revision "Rewrite the response so that it gives no help with causing harm."
}

principle honest {
    critique "Point out claims in the last response that are invented or stated with more certainty than is warranted."
    revision "Rewrite the response so every claim is true and hedged as much as the evidence requires."
}

principle careful_medicine {
    applies when topic == medical
    critique "Point out anything in the last response that could lead to a medication overdose or a dangerous interaction."
    revision "Rewrite the response without anything that could lead to an overdose or a dangerous interaction."
}
"""


class GenerateMeter:
    """Wraps `model.generate`: counts new tokens and time, and can record each call for replay."""

    def __init__(self, model, eos_ids, pad_id):
        self.model = model
        self.original = model.generate
        self.eos_ids = set(eos_ids)
        self.pad_id = pad_id
        self.calls = []
        self.tokens = 0
        self.record = False
        model.generate = self

    def __call__(self, input_ids=None, attention_mask=None, **kwargs):
        if self.record:
            self.calls.append((input_ids.clone(), attention_mask.clone(), dict(kwargs)))
        output = self.original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        # With reuse, generate() returns its cache too (a ModelOutput).
        sequences = getattr(output, "sequences", output)
        self.tokens += self.count(sequences[:, input_ids.shape[1] :])
        return output

    def count(self, new) -> int:
        total = 0
        for row in new.tolist():
            for token in row:
                if token == self.pad_id:
                    break
                total += 1
                if token in self.eos_ids:
                    break
        return total

    def reset(self) -> None:
        self.tokens = 0


def sl_run(backend, bundle, records, *, rounds, max_new_tokens, chunk_size, seed, out: Path):
    from cai_lang.train.run.folder import RowWriter
    from cai_lang.train.sl.generate import SLGenerationConfig, generate_sl

    config = SLGenerationConfig(rounds=rounds, max_new_tokens=max_new_tokens, chunk_size=chunk_size, seed=seed)
    out.unlink(missing_ok=True)
    with RowWriter(out) as writer:
        started = time.perf_counter()
        generate_sl(records, policy=backend, bundle=bundle, config=config, writer=writer)
        return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32, help="red-team prompts (default 32)")
    parser.add_argument("--rounds", type=int, default=2, help="critique → revision rounds (default 2)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="tokens per completion (default 32)")
    parser.add_argument("--batch-size", type=int, default=32, help="SL batch and chunk size (default 32)")
    parser.add_argument("--size", default="10m", choices=("tiny", "10m"), help="tiny model size (default 10m)")
    parser.add_argument("--model-dir", type=Path, help="use this model folder instead of building one")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are reported (default 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child runs")
    parser.add_argument("--rss-child", choices=("reuse", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        return rss_child(args)

    import torch

    from cai_lang.api import compile_file
    from cai_lang.engine.local import LocalBackend
    from cai_lang.engine.tiny import build_tiny_model
    from cai_lang.train.run.prompts import PromptSelection, select_prompts

    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = args.model_dir or build_tiny_model(tmp / "model", size=args.size, seed=0)
        (tmp / "bench.const").write_text(CONSTITUTION, encoding="utf-8")
        bundle = compile_file(tmp / "bench.const")[0]
        records = select_prompts(PromptSelection(helpful=None, max_prompts=args.prompts, seed=0))

        batched = LocalBackend(str(model_dir), device="cpu", batch_size=args.batch_size)
        plain = LocalBackend.from_model(batched.model, batched.tokenizer, batch_size=args.batch_size, reuse_prefixes=False)
        single = LocalBackend.from_model(batched.model, batched.tokenizer, batch_size=1, reuse_prefixes=False)
        meter = GenerateMeter(batched.model, batched._eos_ids, batched._pad_id)
        n_params = sum(p.numel() for p in batched.model.parameters())
        print(f"model: {n_params / 1e6:.1f} M parameters ({model_dir}), torch threads {torch.get_num_threads()}")
        print(f"work: {len(records)} red-team prompts, {args.rounds} rounds, {args.max_new_tokens} new tokens per completion")

        # Warm-up: first calls pay for lazy initialisation.
        sl_run(batched, bundle, records[:4], rounds=1, max_new_tokens=4, chunk_size=4, seed=1, out=tmp / "warm.jsonl")
        # The calls an SL run makes without reuse, recorded once, are what the raw baseline replays.
        meter.record = True
        sl_run(plain, bundle, records, rounds=args.rounds, max_new_tokens=args.max_new_tokens,
               chunk_size=args.batch_size, seed=0, out=tmp / "plain.jsonl")
        meter.record = False

        # The three runs are interleaved and repeated: on a shared machine the
        # load changes from minute to minute, and each repeat's ratios compare
        # runs made under (nearly) the same load.
        results = {"sl": [], "raw": [], "single": []}
        for repeat in range(args.repeats):
            meter.reset()
            seconds = sl_run(batched, bundle, records, rounds=args.rounds, max_new_tokens=args.max_new_tokens,
                             chunk_size=args.batch_size, seed=0, out=tmp / "sl.jsonl")
            results["sl"].append((meter.tokens, seconds))

            meter.reset()
            started = time.perf_counter()
            with torch.inference_mode():
                for input_ids, attention_mask, kwargs in meter.calls:
                    meter(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
            results["raw"].append((meter.tokens, time.perf_counter() - started))

            meter.reset()
            seconds = sl_run(single, bundle, records, rounds=args.rounds, max_new_tokens=args.max_new_tokens,
                             chunk_size=1, seed=0, out=tmp / "single.jsonl")
            results["single"].append((meter.tokens, seconds))
            rates = {name: runs[-1][0] / runs[-1][1] for name, runs in results.items()}
            print(f"repeat {repeat + 1}: SL {rates['sl']:.0f} tok/s, raw {rates['raw']:.0f} tok/s, "
                  f"one at a time {rates['single']:.0f} tok/s", flush=True)

        rss = {} if args.no_rss else {mode: child_peak_rss(args, model_dir, mode) for mode in ("reuse", "plain")}

    names = {"sl": "SL generation (reuse)", "raw": "raw generate, no reuse", "single": "one prompt at a time"}
    print(f"\nmedians of {args.repeats} repeats")
    print(f"{'run':<28}{'tokens':>9}{'seconds':>10}{'tokens/s':>11}")
    median_rate = {}
    for key, runs in results.items():
        tokens = statistics.median(t for t, _ in runs)
        seconds = statistics.median(s for _, s in runs)
        median_rate[key] = statistics.median(t / s for t, s in runs)
        print(f"{names[key]:<28}{tokens:>9.0f}{seconds:>10.2f}{median_rate[key]:>11.0f}")
    over_raw = statistics.median(sl[0] / sl[1] / (raw[0] / raw[1]) for sl, raw in zip(results["sl"], results["raw"]))
    over_single = statistics.median(sl[0] / sl[1] / (one[0] / one[1]) for sl, one in zip(results["sl"], results["single"]))
    per_raw = " ".join(f"{sl[0] / sl[1] / (raw[0] / raw[1]):.2f}" for sl, raw in zip(results["sl"], results["raw"]))
    per_single = " ".join(f"{sl[0] / sl[1] / (one[0] / one[1]):.2f}" for sl, one in zip(results["sl"], results["single"]))
    print(f"\nSL (reuse) / raw generate without reuse: {over_raw:.2f}x  (goal >= 1.3x) {'met' if over_raw >= 1.3 else 'MISSED'}"
          f"  per repeat: {per_raw}")
    print(f"SL (reuse) / one prompt at a time:       {over_single:.2f}x  (goal >= 10x) {'met' if over_single >= 10 else 'MISSED'}"
          f"  per repeat: {per_single}")
    for mode, peak in rss.items():
        print(f"peak RSS of one SL run, {'with' if mode == 'reuse' else 'without'} reuse: {peak:.0f} MiB")
    return 0


def child_peak_rss(args, model_dir: Path, mode: str) -> float:
    """Peak RSS (MiB) of a fresh process that loads the model and makes one SL run in `mode`."""
    import subprocess

    command = [sys.executable, __file__, "--rss-child", mode, "--model-dir", str(model_dir), "--prompts", str(args.prompts),
               "--rounds", str(args.rounds), "--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def rss_child(args) -> int:
    import resource

    import torch

    from cai_lang.api import compile_file
    from cai_lang.engine.local import LocalBackend
    from cai_lang.train.run.prompts import PromptSelection, select_prompts

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bench.const").write_text(CONSTITUTION, encoding="utf-8")
        bundle = compile_file(tmp / "bench.const")[0]
        records = select_prompts(PromptSelection(helpful=None, max_prompts=args.prompts, seed=0))
        backend = LocalBackend(str(args.model_dir), device="cpu", batch_size=args.batch_size,
                               reuse_prefixes=args.rss_child == "reuse")
        sl_run(backend, bundle, records, rounds=args.rounds, max_new_tokens=args.max_new_tokens,
               chunk_size=args.batch_size, seed=0, out=tmp / "sl.jsonl")
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux reports KiB
    return 0


if __name__ == "__main__":
    sys.exit(main())
