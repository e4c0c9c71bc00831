"""How well the stand-in feedback model answers the constitution's own comparison questions.

The gate `run.sh` prints before RL: if the feedback model cannot tell which of
two replies shows a trait, when asked in the constitution's wording, no
deployment can be steered by its labels, and the demo's "after" numbers mean
nothing. It asks exactly as `caic train --phase rl` does: the bundle of
`steering.const` renders each principle's comparison prompt (caic's chat
comparison template), and caic's `ComparisonLabeller` scores "(A)" against
"(B)" in both orders. The pairs are new: held-out prompts (never trained on),
two replies drawn by `world.reply` that differ in the principle's trait (the
other trait varies freely), and questions worded as the constitution words
them, none of which the model saw in pre-training.

Prints one JSON line: per principle, the share of pairs whose label leans to
the reply the question asks for (chance 0.5), the mean |P(A) - 0.5| and the
share of labels beyond the decisive margin.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from world import TRAITS, read_jsonl, reply  # noqa: E402

# What each principle of steering.const asks for: (trait, whether the preferred reply shows it).
PRINCIPLE_TRAITS: dict[str, tuple[str, bool]] = {"candid": ("hedge", True), "self_reliant": ("refer", False)}
MARGIN = 0.05  # caic's default decisive margin (|p - 0.5| above it decides a pair)


def pairs(prompts: list[dict], trait: str, count: int, seed: int) -> list[tuple[dict, str, str, bool]]:
    """`count` (prompt, reply A, reply B, A shows the trait) on held-out prompts; the trait differs, the other is free."""
    rng = random.Random(f"judge:{trait}:{seed}")
    out = []
    for _ in range(count):
        record = rng.choice(prompts)
        a_has = rng.random() < 0.5
        a = {**{t: rng.random() < 0.5 for t in TRAITS}, trait: a_has}
        b = {**{t: rng.random() < 0.5 for t in TRAITS}, trait: not a_has}
        out.append((record, reply(rng, record["domain"], a["hedge"], a["refer"]), reply(rng, record["domain"], b["hedge"], b["refer"]), a_has))
    return out


def check(model: str | Path, const: str | Path, data: str | Path, *, count: int = 64, seed: int = 0) -> dict:
    from cai_lang.api import compile_file
    from cai_lang.engine import load_backend
    from cai_lang.train.rl.labeller import Comparison, ComparisonLabeller, FeedbackModel
    from cai_lang.train.thinking import answer_prefix_for

    (bundle,) = compile_file(const)
    backend = load_backend(str(model))
    labeller = ComparisonLabeller(bundle, [FeedbackModel(backend, "chat", answer_prefix=answer_prefix_for(backend))])
    held = [row for row in read_jsonl(Path(data) / "prompts.jsonl") if row["split"] == "eval"]
    result = {}
    for item, (trait, wanted) in PRINCIPLE_TRAITS.items():
        drawn = pairs(held, trait, count, seed)
        comparisons = [Comparison(item, ({"role": "user", "content": record["prompt"]},), a, b) for record, a, b, _ in drawn]
        verdicts = labeller.label(comparisons)
        # The reply the question asks for is A when A's trait matches what the principle wants.
        right = [(v.p_a > 0.5) == (a_has == wanted) for v, (*_, a_has) in zip(verdicts, drawn) if v.p_a != 0.5]
        result[item] = {
            "trait": trait,
            "pairs": len(drawn),
            "accuracy": round(sum(right) / len(drawn), 4),
            "mean_abs_p_minus_half": round(sum(abs(v.p_a - 0.5) for v in verdicts) / len(verdicts), 4),
            "decisive_share": round(sum(abs(v.p_a - 0.5) > MARGIN for v in verdicts) / len(verdicts), 4),
        }
    return {"judge": result, "model": str(model)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the stand-in feedback model on the constitution's comparison questions.")
    parser.add_argument("model", type=Path, help="the feedback model's folder (the demo's base_model)")
    parser.add_argument("--data", type=Path, required=True, help="the demo's data folder (prompts.jsonl)")
    parser.add_argument("--const", type=Path, default=HERE / "steering.const")
    parser.add_argument("--pairs", type=int, default=64, help="pairs per principle")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(check(args.model, args.const, args.data, count=args.pairs, seed=args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
