"""Benchmark: the log-probability comparison labeller against labelling by generated verdict text.

Measured in one process on the same ~10 M-parameter model, the same
comparisons and the same backend batch size. The constitution has
`--principles` (8) principles with a comparison question, and every pair
of responses is asked all of them, as RLAIF labelling with a whole
constitution does:

- log-probs, both orders: `ComparisonLabeller` as used for training data
  (4 scored continuations per label, one batched call), with the engine's
  prefix reuse: each pair's conversation is read once for all principles
  and both orders;
- log-probs, no reuse: the same on a backend with `reuse_prefixes=False`,
  which reads every prompt in full;
- log-probs, one order: the same with `both_orders=False`;
- verdict text: for each label, the model *generates* a verdict for both
  orders (greedy, `--verdict-tokens` new tokens, the way a generation-based
  judge works) and the "(A)"/"(B)" in the text is parsed; a random model
  never stops early, so it writes all the tokens.

Prints labels per second for each and the ratios: log-probs over verdict
text, per verdict length (goal >= 10x at 64 tokens), reuse over no reuse,
and the cost of both orders over one order (goal <= 2.2x). The methods run in interleaved rounds (every method
once per round, after a warm-up) and ratios are medians of per-round
ratios, so a busy neighbour on a shared machine slows a round evenly.

    python benchmarks/bench_labeller.py [--pairs 2] [--principles 8] [--verdict-tokens 64] [--model-dir DIR] [--threads 1]

Why the ratio depends on the verdict length: on a CPU a forward pass costs
in proportion to its tokens, so reading a ~170-token comparison prompt
dominates. Scoring reads each prompt once per order (both options come
from its KV cache) and, with reuse, the pair's conversation once for all
principles; a generated verdict reads every prompt in full and then pays
one decode step per token.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    "Which of these responses is less harmful, while still being helpful and honest?",
    "Which response is more honest about what it does not know?",
    "Which response would a careful pharmacist be more comfortable with?",
    "Which response better respects the person's autonomy?",
    "Which response is clearer and easier to follow?",
    "Which response avoids giving dangerous instructions?",
    "Which response is kinder in tone without being condescending?",
    "Which response is more accurate about how medicines should be kept?",
]


def constitution(principles: int) -> str:
    """A constitution of `principles` principles, each with its own comparison question."""
    items = [
        f'principle p{i} {{\n    compare "{QUESTIONS[i % len(QUESTIONS)]}{"" if i < len(QUESTIONS) else f" (case {i})"}"\n}}'
        for i in range(principles)
    ]
    return 'constitution bench {\n    version "0.1.0"\n}\n\n' + "\n\n".join(items) + "\n"

RESPONSES = [
    "You can store medicine in a locked cabinet out of reach of children, and check the expiry dates every few months so nothing old is taken by mistake.",
    "Just keep it anywhere you like. It does not really matter where the pills go as long as you remember where you put them later on.",
    "Ask your pharmacist: they can tell you how each medicine should be stored, which ones need the fridge, and how to dispose of old ones safely.",
    "Put everything in one big box in the bathroom. Heat and steam are fine for most tablets, and labels are not important once you know them.",
]


def build_comparisons(pairs: int, principles: int):
    """Every pair asked every principle's question: `pairs * principles` comparisons."""
    from cai_lang.train.rl.labeller import Comparison

    comparisons = []
    for i in range(pairs):
        conversation = ({"role": "user", "content": f"Question {i}: how should I store the medicines in my house so they stay safe?"},)
        a, b = RESPONSES[i % 4], RESPONSES[(i + 1) % 4]
        comparisons += [Comparison(f"p{k}", conversation, a, b) for k in range(principles)]
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
    parser.add_argument("--pairs", type=int, default=2, help="response pairs per timed run (default 2)")
    parser.add_argument("--principles", type=int, default=8, help="principles asked of every pair (default 8)")
    parser.add_argument("--verdict-tokens", type=int, nargs="+", default=[64], help="new tokens the verdict-text baseline generates (one or more; default 64)")
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
        source.write_text(constitution(args.principles), encoding="utf-8")
        (bundle,) = compile_file(source)
        backend = LocalBackend(str(model_dir), device=args.device, batch_size=args.batch_size)
        parameters = sum(p.numel() for p in backend.model.parameters())
        comparisons = build_comparisons(args.pairs, args.principles)
        both = ComparisonLabeller.from_backends(bundle, backend)
        plain = LocalBackend.from_model(backend.model, backend.tokenizer, batch_size=args.batch_size, reuse_prefixes=False)
        no_reuse = ComparisonLabeller.from_backends(bundle, plain)
        one = ComparisonLabeller.from_backends(bundle, backend, both_orders=False)

        runs = {
            "both": lambda: both.label(comparisons),
            "plain": lambda: no_reuse.label(comparisons),
            "one": lambda: one.label(comparisons),
        }
        for tokens in args.verdict_tokens:
            params = SamplingParams(max_new_tokens=tokens, temperature=0.0, do_sample=False)
            runs[f"text{tokens}"] = lambda params=params: label_by_verdict_text(both, comparisons, params)
        times = interleaved(runs, args.rounds)

    n = len(comparisons)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"model: {model_dir.name} ({parameters / 1e6:.1f} M parameters) on {args.device}, torch threads {torch.get_num_threads()}, backend batch {args.batch_size}")
    print(f"{n} labels per run ({args.pairs} pairs x {args.principles} principles); {args.rounds} interleaved rounds after a warm-up; medians")
    print(f"  log-probs, both orders           : {n / median['both']:8.2f} labels/s  ({median['both']:.3f} s)")
    print(f"  log-probs, both orders, no reuse : {n / median['plain']:8.2f} labels/s  ({median['plain']:.3f} s)")
    print(f"  log-probs, one order             : {n / median['one']:8.2f} labels/s  ({median['one']:.3f} s)")
    for tokens in args.verdict_tokens:
        t = median[f"text{tokens}"]
        print(f"  verdict text, {tokens:4d} tokens, both orders: {n / t:8.2f} labels/s  ({t:.3f} s)")
    for tokens in args.verdict_tokens:
        speedup = median_ratio(times[f"text{tokens}"], times["both"])
        per_round = " ".join(f"{t / b:.1f}" for t, b in zip(times[f"text{tokens}"], times["both"]))
        print(
            f"ratio log-probs / verdict text of {tokens} tokens (both orders each): {speedup:.1f}x  (goal >= 10x) "
            f"{'met' if speedup >= 10 else 'MISSED'}  per round: {per_round}"
        )
    print(f"ratio reuse / no reuse (log-probs, both orders): {median_ratio(times['plain'], times['both']):.2f}x")
    swap_cost = median_ratio(times["both"], times["one"])
    print("per-round both/one:", " ".join(f"{b / o:.2f}" for b, o in zip(times["both"], times["one"])))
    print(f"ratio both orders / one order: {swap_cost:.2f}x  (goal <= 2.2x) {'met' if swap_cost <= 2.2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
