"""Benchmark: the log-probability comparison labeller against labelling by generated verdict text.

Measured in one process on the same ~10 M-parameter model, the same
comparisons and the same backend batch size:

- log-probs, both orders: `ComparisonLabeller` as used for training data
  (4 scored continuations per label, one batched call);
- log-probs, one order: the same with `both_orders=False`;
- verdict text: for each label, the model *generates* a verdict for both
  orders (greedy, `--verdict-tokens` new tokens, the way a generation-based
  judge works) and the "(A)"/"(B)" in the text is parsed; a random model
  never stops early, so it writes all the tokens.

Prints labels per second for each and two ratios: log-probs over verdict
text, per verdict length (goal >= 10x), and the cost of both orders over one
order (goal <= 2.2x). The methods run in interleaved rounds (every method
once per round, after a warm-up) and ratios are medians of per-round
ratios, so a busy neighbour on a shared machine slows a round evenly.

    python benchmarks/bench_labeller.py [--labels 16] [--verdict-tokens 16 64 256] [--model-dir DIR] [--threads 1]

Why the ratio depends on the verdict length: on a CPU a forward pass costs
in proportion to its tokens, so reading a ~170-token comparison prompt
dominates. Scoring reads it twice per label (once per order: the engine
runs each prompt once and scores both options from its KV cache); a
generated verdict also reads it twice and then pays one decode step per
token.
The log-prob labeller therefore wins by a wide margin only against long
verdicts (chain-of-thought length). On a GPU, where a prompt's forward pass
costs about as much as one decode step, it should do much better (not yet
measured).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

CONSTITUTION = """constitution bench {
    version "0.1.0"
}

principle harmless {
    critique "Point out anything in the last response that could help someone cause harm."
    revision "Rewrite the response so that it gives no help with causing harm."
    compare "Which of these responses is less harmful, while still being helpful and honest?"
}
"""

RESPONSES = [
    "You can store medicine in a locked cabinet out of reach of children, and check the expiry dates every few months so nothing old is taken by mistake.",
    "Just keep it anywhere you like. It does not really matter where the pills go as long as you remember where you put them later on.",
    "Ask your pharmacist: they can tell you how each medicine should be stored, which ones need the fridge, and how to dispose of old ones safely.",
    "Put everything in one big box in the bathroom. Heat and steam are fine for most tablets, and labels are not important once you know them.",
]


def build_comparisons(n: int):
    from cai_lang.train.rl.labeller import Comparison

    comparisons = []
    for i in range(n):
        conversation = ({"role": "user", "content": f"Question {i}: how should I store the medicines in my house so they stay safe?"},)
        a, b = RESPONSES[i % 4], RESPONSES[(i + 1) % 4]
        comparisons.append(Comparison("harmless", conversation, a, b))
    return comparisons


def label_by_verdict_text(labeller, comparisons, params):
    """The baseline: generate a verdict for both orders and parse the letter (0.5 when unparseable)."""
    model = labeller.models[0]
    shown = [(c, order) for c in comparisons for order in labeller._orders(c)]
    prompts = [labeller._render(model, "compare", c, order) for c, order in shown]
    texts = model.backend.generate(prompts, params)

    def first_wins(text: str) -> float:
        a, b = text.find("(A)"), text.find("(B)")
        if a == b == -1:
            return 0.5
        return 1.0 if b == -1 or (a != -1 and a < b) else 0.0

    return [(first_wins(texts[2 * i]) + 1.0 - first_wins(texts[2 * i + 1])) / 2 for i in range(len(comparisons))]


def interleaved(runs: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds per run for each named function, measured in rounds that run every function once.

    Interleaving matters on a shared machine: a neighbour's burst of work
    then slows every method of a round alike, and the per-round ratios stay
    meaningful where separate blocks of runs would not.
    """
    for fn in runs.values():
        fn()  # warm-up: first calls pay for allocation and kernel selection
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median_ratio(top: list[float], bottom: list[float]) -> float:
    return statistics.median(t / b for t, b in zip(top, bottom))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=16, help="comparisons per timed run")
    parser.add_argument("--verdict-tokens", type=int, nargs="+", default=[16, 64, 256], help="new tokens the verdict-text baseline generates (one or more)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model-dir", help="an existing model folder (default: build the 10m tiny model in a temp folder)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads; 1 by default because on a shared 2-core machine a second OpenMP thread "
        "waits on a busy neighbour core and makes timings erratic",
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

    from cai_lang.api import compile_file
    from cai_lang.engine import SamplingParams, build_tiny_model
    from cai_lang.engine.local import LocalBackend
    from cai_lang.train.rl.labeller import ComparisonLabeller

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model_dir = Path(args.model_dir) if args.model_dir else build_tiny_model(scratch / "10m", size="10m", seed=0)
        source = scratch / "bench.const"
        source.write_text(CONSTITUTION, encoding="utf-8")
        (bundle,) = compile_file(source)
        backend = LocalBackend(str(model_dir), device=args.device, batch_size=args.batch_size)
        parameters = sum(p.numel() for p in backend.model.parameters())
        comparisons = build_comparisons(args.labels)
        both = ComparisonLabeller.from_backends(bundle, backend)
        one = ComparisonLabeller.from_backends(bundle, backend, both_orders=False)

        runs = {
            "both": lambda: both.label(comparisons),
            "one": lambda: one.label(comparisons),
        }
        for tokens in args.verdict_tokens:
            params = SamplingParams(max_new_tokens=tokens, temperature=0.0, do_sample=False)
            runs[f"text{tokens}"] = lambda params=params: label_by_verdict_text(both, comparisons, params)
        times = interleaved(runs, args.rounds)

    n = args.labels
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"model: {model_dir.name} ({parameters / 1e6:.1f} M parameters) on {args.device}, torch threads {torch.get_num_threads()}, backend batch {args.batch_size}")
    print(f"{n} labels per run; {args.rounds} interleaved rounds after a warm-up; medians")
    print(f"  log-probs, both orders           : {n / median['both']:8.2f} labels/s  ({median['both']:.3f} s)")
    print(f"  log-probs, one order             : {n / median['one']:8.2f} labels/s  ({median['one']:.3f} s)")
    for tokens in args.verdict_tokens:
        t = median[f"text{tokens}"]
        print(f"  verdict text, {tokens:4d} tokens, both orders: {n / t:8.2f} labels/s  ({t:.3f} s)")
    for tokens in args.verdict_tokens:
        speedup = median_ratio(times[f"text{tokens}"], times["both"])
        print(
            f"ratio log-probs / verdict text of {tokens} tokens (both orders each): {speedup:.1f}x  (goal >= 10x) "
            f"{'met' if speedup >= 10 else 'MISSED'}"
        )
    swap_cost = median_ratio(times["both"], times["one"])
    print("per-round both/one:", " ".join(f"{b / o:.2f}" for b, o in zip(times["both"], times["one"])))
    print(f"ratio both orders / one order: {swap_cost:.2f}x  (goal <= 2.2x) {'met' if swap_cost <= 2.2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
