"""How the stand-in feedback model answers each comparison question of the constitution.

The gate `run.sh` prints before RL. For every principle that judges pairs in
some deployment of `steering.const` (the control's included), it asks the
feedback model about new pairs, exactly as `caic train --phase rl` does (the
deployment's bundle renders the comparison prompt with caic's chat
comparison template, and caic's `ComparisonLabeller` scores "(A)" against
"(B)" in both orders), once with pairs that differ only in hedging and once
with pairs that differ only in referring (the other trait is drawn once per
pair, the same in both replies).
The pairs are on held-out prompts (never trained on), drawn by `world.reply`;
the questions are the constitution's own wordings, none of which the model
saw in pre-training.

For each principle and trait it reports how many labels were decisive
(|P(A) - 0.5| above caic's margin) and, of those, the share that preferred
the reply showing the trait. What each principle should do is in `WANTED`:
`candid` prefers hedging and ignores referring, `self_reliant` prefers the
reply without a referral and ignores hedging, and the control's principles
ignore both. "Ignores" means few decisive labels, or decisive ones split
about evenly: a principle that ignores a trait gives DPO no push on it.

Prints one JSON line.
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

# What each judging principle of steering.const asks for, per trait: True (prefer the reply showing it),
# False (prefer the reply without it) or None (the question is not about it).
WANTED: dict[str, dict[str, bool | None]] = {
    "candid": {"hedge": True, "refer": None},
    "self_reliant": {"hedge": None, "refer": False},
    "names_a_day": {"hedge": None, "refer": None},
    "warm_tone": {"hedge": None, "refer": None},
}
MARGIN = 0.05  # caic's default decisive margin (|p - 0.5| above it decides a pair)


def pairs(prompts: list[dict], trait: str, count: int, seed: int) -> list[tuple[dict, str, str, bool]]:
    """`count` (prompt, reply A, reply B, A shows the trait) on held-out prompts; only the trait differs."""
    rng = random.Random(f"judge:{trait}:{seed}")
    out = []
    for _ in range(count):
        record = rng.choice(prompts)
        a_has = rng.random() < 0.5
        other = {t: rng.random() < 0.5 for t in TRAITS}  # the other trait: the same in both replies
        a, b = {**other, trait: a_has}, {**other, trait: not a_has}
        out.append((record, reply(rng, record["domain"], a["hedge"], a["refer"]), reply(rng, record["domain"], b["hedge"], b["refer"]), a_has))
    return out


def _bundles(const: str | Path) -> dict[str, object]:
    """For each principle, a bundle that holds it: the first deployment (in declaration order) that enables it."""
    from cai_lang.api import compile_file

    found: dict[str, object] = {}
    for bundle in compile_file(const, all_deployments=True):
        for principle in bundle.principles:
            found.setdefault(principle.id, bundle)
    return found


def check(model: str | Path, const: str | Path, data: str | Path, *, count: int = 64, seed: int = 0) -> dict:
    from cai_lang.engine import load_backend
    from cai_lang.train.rl.labeller import Comparison, ComparisonLabeller, FeedbackModel
    from cai_lang.train.thinking import answer_prefix_for

    backend = load_backend(str(model))
    held = [row for row in read_jsonl(Path(data) / "prompts.jsonl") if row["split"] == "eval"]
    drawn = {trait: pairs(held, trait, count, seed) for trait in TRAITS}
    bundles = _bundles(const)
    result = {}
    for item, wanted in WANTED.items():
        labeller = ComparisonLabeller(bundles[item], [FeedbackModel(backend, "chat", answer_prefix=answer_prefix_for(backend))])
        per_trait = {}
        for trait in TRAITS:
            comparisons = [Comparison(item, ({"role": "user", "content": record["prompt"]},), a, b) for record, a, b, _ in drawn[trait]]
            verdicts = labeller.label(comparisons)
            decisive = [(v.p_a > 0.5) == a_has for v, (*_, a_has) in zip(verdicts, drawn[trait]) if abs(v.p_a - 0.5) > MARGIN]
            per_trait[trait] = {
                "wanted": wanted[trait],
                "decisive": len(decisive),
                "prefers_trait": round(sum(decisive) / len(decisive), 4) if decisive else None,
                "mean_abs_p_minus_half": round(sum(abs(v.p_a - 0.5) for v in verdicts) / len(verdicts), 4),
            }
        result[item] = per_trait
    return {"judge": result, "pairs_per_trait": count, "model": str(model)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the stand-in feedback model on the constitution's comparison questions.")
    parser.add_argument("model", type=Path, help="the feedback model's folder (the demo's base_model)")
    parser.add_argument("--data", type=Path, required=True, help="the demo's data folder (prompts.jsonl)")
    parser.add_argument("--const", type=Path, default=HERE / "steering.const")
    parser.add_argument("--pairs", type=int, default=64, help="pairs per trait")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(check(args.model, args.const, args.data, count=args.pairs, seed=args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
