"""The steering demo's output: one JSON line per deployment, from what the evaluations and training runs wrote.

    python examples/steering/summary.py OUT_DIR --seeds 0 1 2 --deployments humble hands_on control

For each deployment and seed it counts each trait (world.trait_of: surface
forms, no model) in the responses of `OUT_DIR/eval_base_sSEED` (the base
model) and `OUT_DIR/eval_DEP_sSEED` (the trained policy), and reads their
benign held-out loss. Per deployment it prints each trait's rate before and
after (mean over seeds), the change per seed, its mean and spread (min, max),
whether every seed moved the trait the same way, the share of replies that
are well formed (`world.well_formed`: one of the world's advice sentences and
closings, word for word) before and after, the benign loss change, and
how often the feedback model's labels on the DPO pairs agreed with the
measure for each trait (a pair counts when its two responses differ in that
trait and its label is decisive). Last, a line with the wall time of every
step (`timings.tsv`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from world import TRAITS, read_jsonl, trait_of, well_formed  # noqa: E402

DECISIVE = 0.1  # DPO drops pairs whose label is within this of 0.5


def trait_rates(eval_dir: Path) -> dict[str, float]:
    """Each trait's rate in an evaluation's replies, and the share of replies that are well formed."""
    rows = [r for r in read_jsonl(eval_dir / "responses.jsonl") if r["side"] == "model"]
    marks = [trait_of(r["response"]) for r in rows]
    rates = {t: sum(m[t] for m in marks) / len(marks) for t in TRAITS}
    return {**rates, "well_formed": sum(well_formed(r["response"]) for r in rows) / len(rows)}


def benign_loss(eval_dir: Path) -> float | None:
    metrics = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    return (metrics["model"].get("benign") or {}).get("loss")


def label_agreement(run_dir: Path) -> dict:
    """Per trait: of the decisive labels on pairs that differ in the trait, the share preferring the response that has it."""
    pairs = {p["id"]: p for p in read_jsonl(run_dir / "rl_pairs.jsonl")}
    counts = {t: [0, 0] for t in TRAITS}  # [prefers the trait, decisive pairs differing in it]
    for label in read_jsonl(run_dir / "rl_labels.jsonl"):
        pair = pairs[label["pair_id"]]
        if abs(label["p_a"] - 0.5) < DECISIVE:
            continue
        a, b = trait_of(pair["response_a"]), trait_of(pair["response_b"])
        for t in TRAITS:
            if a[t] != b[t]:
                counts[t][1] += 1
                counts[t][0] += (label["p_a"] > 0.5) == a[t]
    return {t: {"prefers_trait": _round(k / n) if n else None, "pairs": n} for t, (k, n) in counts.items()}


def dpo_record(run_dir: Path) -> dict:
    """What the DPO step did, from the run's record: trained or not (all near-ties), its steps, decisive labels."""
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    policy = (record.get("outputs") or {}).get("rl_policy")
    decisive = sum(abs(label["p_a"] - 0.5) >= DECISIVE for label in read_jsonl(run_dir / "rl_labels.jsonl"))
    return {"trained": policy is not None, "steps": policy.get("steps") if policy else 0, "decisive_labels": decisive}


def _round(value, digits: int = 4):
    return None if value is None else round(value, digits)


def spread(values: list[float]) -> dict:
    return {"mean": _round(statistics.fmean(values)), "min": _round(min(values)), "max": _round(max(values))}


def summarise_deployment(out: Path, dep: str, seeds: list[str]) -> dict:
    before = {s: trait_rates(out / f"eval_base_s{s}") for s in seeds}
    after = {s: trait_rates(out / f"eval_{dep}_s{s}") for s in seeds}
    result: dict = {"deployment": dep, "seeds": [int(s) for s in seeds]}
    for t in TRAITS:
        change = [after[s][t] - before[s][t] for s in seeds]
        result[t] = {
            "before": spread([before[s][t] for s in seeds]),
            "after": spread([after[s][t] for s in seeds]),
            "change": {**spread(change), "per_seed": [_round(c) for c in change]},
            "same_sign_all_seeds": all(c > 0 for c in change) or all(c < 0 for c in change),
        }
    result["well_formed"] = {"before": spread([before[s]["well_formed"] for s in seeds]), "after": spread([after[s]["well_formed"] for s in seeds])}
    loss_before = [benign_loss(out / f"eval_base_s{s}") for s in seeds]
    loss_after = [benign_loss(out / f"eval_{dep}_s{s}") for s in seeds]
    result["benign_loss"] = {
        "before": _round(statistics.fmean(loss_before)),
        "after": spread(loss_after),
        "change": spread([a / b - 1 for a, b in zip(loss_after, loss_before)]),
    }
    agreement = [label_agreement(out / f"{dep}_s{s}") for s in seeds]
    result["dpo"] = [dpo_record(out / f"{dep}_s{s}") for s in seeds]
    result["labels"] = {t: {"prefers_trait": [a[t]["prefers_trait"] for a in agreement], "pairs": [a[t]["pairs"] for a in agreement]} for t in TRAITS}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", nargs="+", required=True)
    parser.add_argument("--deployments", nargs="+", required=True)
    args = parser.parse_args(argv)
    for dep in args.deployments:
        print(json.dumps(summarise_deployment(args.out, dep, args.seeds)))
    timings = args.out / "timings.tsv"
    if timings.is_file():
        wall = {name: float(sec) for name, sec in (line.split("\t") for line in timings.read_text().splitlines() if line.strip())}
        print(json.dumps({"wall_s": wall, "total_s": sum(wall.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
