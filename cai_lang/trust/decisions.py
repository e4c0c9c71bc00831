"""People's review decisions on AI-labelled pairs: the append-only file, what to review first, and what the decisions give.

The review page (`cai_lang/review_app/`) appends one JSON line per decision
to `DIR/review_decisions.jsonl`, flushed and synced before it answers: the
reviewer, the time, the pair's id and content hash (of its conversation and
both responses, so a decision never silently moves to other text), the
choice (`a`, `b`, `tie` or `skip`), optionally the principle that decided it
and a note, and the AI label it agreed or disagreed with. A later decision
by the same reviewer on the same pair replaces the earlier one when read.

From the decisions: the review order (least certain labels first), the
preference rows in trl's conversational layout (`caic train
--human-preferences` reads the decisions file itself, or its export), the
AI-versus-people agreement per principle, and Cohen's kappa between
reviewers on the pairs both judged.
"""

from __future__ import annotations

import hashlib
import json
import os
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from cai_lang.trust.stats import Proportion, cohen_kappa, direction

DECISIONS = "review_decisions.jsonl"
PAIRS = "rl_pairs.jsonl"
LABELS = "rl_labels.jsonl"
CHOICES = ("a", "b", "tie", "skip")
_SIDE = {1: "a", -1: "b", 0: "tie"}


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file; a line cut short by a kill (no newline, not JSON) at the end is left out."""
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # the unfinished last line of a killed writer
                continue
            raise ValueError(f"{path}, line {number}: not JSON") from None
    return rows


def pair_hash(pair: Mapping[str, Any]) -> str:
    """The content hash of a pair: its conversation and both responses."""
    body = json.dumps([pair.get("conversation"), pair.get("response_a"), pair.get("response_b")], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def ai_view(label: Mapping[str, Any] | None) -> dict:
    """The AI label a reviewer sees and is compared with: overall P(A better), its side, and each item's probability."""
    if not label:
        return {"p_a": None, "side": None, "items": {}}
    return {"p_a": label.get("p_a"), "side": _SIDE[direction(float(label.get("p_a", 0.5)))], "items": dict(label.get("items") or {})}


def uncertainty(label: Mapping[str, Any]) -> float:
    """How doubtful a label is: closeness to 0.5, plus the shares of items whose orders flip, plus items and models disagreeing."""
    score = 1.0 - 2.0 * abs(float(label.get("p_a", 0.5)) - 0.5)
    items = label.get("items") or {}
    details = label.get("details") or {}
    flips = [direction(d["p_a_first"]) * direction(d["p_a_second"]) < 0 for d in details.values()
             if d.get("p_a_first") is not None and d.get("p_a_second") is not None]
    if flips:
        score += sum(flips) / len(flips)
    sides = {direction(float(p)) for p in items.values()} - {0}
    score += 1.0 if len(sides) > 1 else 0.0
    models = [{direction(float(p)) for p in d.get("per_model") or ()} - {0} for d in details.values()]
    if any(len(m) > 1 for m in models):
        score += 1.0
    return score


def review_order(pairs: Sequence[Mapping], labels: Mapping[str, Mapping]) -> list[str]:
    """Pair ids, least certain label first (unlabelled pairs last), ties by id."""
    def key(pair: Mapping) -> tuple:
        label = labels.get(str(pair["id"]))
        return (label is None, -uncertainty(label) if label else 0.0, str(pair["id"]))

    return [str(p["id"]) for p in sorted(pairs, key=key)]


class DecisionLog:
    """The run folder's decisions file: appended one synced line at a time, read back latest-first per reviewer and pair."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, decision: Mapping[str, Any]) -> None:
        if decision.get("decision") not in CHOICES:
            raise ValueError(f"a decision is one of {', '.join(CHOICES)}")
        line = json.dumps(dict(decision), ensure_ascii=False, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def rows(self) -> list[dict]:
        return read_jsonl(self.path)

    def latest(self) -> dict[tuple[str, str], dict]:
        """(reviewer, pair id) -> that reviewer's last decision on the pair."""
        found: dict[tuple[str, str], dict] = {}
        for row in self.rows():
            found[(str(row["reviewer"]), str(row["pair_id"]))] = row
        return found

    def done_by(self, reviewer: str) -> set[str]:
        return {pair for (who, pair) in self.latest() if who == reviewer}


def preference_rows(decisions: Iterable[Mapping], pairs: Mapping[str, Mapping]) -> tuple[list[dict], dict[str, int]]:
    """trl conversational preference rows (`prompt`, `chosen`, `rejected`) from decisions of A or B.

    Ties and skips give no row; a decision whose pair is missing or whose
    content hash no longer matches the pair on disk gives none either. Both
    are counted in the returned tallies, never dropped silently.
    """
    rows, counts = [], {"rows": 0, "tie": 0, "skip": 0, "missing_pair": 0, "changed_pair": 0}
    for d in decisions:
        choice = d["decision"]
        if choice in ("tie", "skip"):
            counts[choice] += 1
            continue
        pair = pairs.get(str(d["pair_id"]))
        if pair is None:
            counts["missing_pair"] += 1
            continue
        if pair_hash(pair) != d.get("content_hash"):
            counts["changed_pair"] += 1
            continue
        chosen, rejected = (pair["response_a"], pair["response_b"]) if choice == "a" else (pair["response_b"], pair["response_a"])
        rows.append({
            "prompt": [dict(t) for t in pair["conversation"]],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "id": f"{d['pair_id']}:{d['reviewer']}", "pair_id": str(d["pair_id"]), "chosen_is": choice, "reviewer": d["reviewer"],
            "principle": d.get("principle"), "content_hash": d.get("content_hash"), "source": "human",
        })
        counts["rows"] += 1
    return rows, counts


def is_decisions_file(path: Path) -> bool:
    """Whether a JSONL file holds review decisions (its first row has `decision` and `pair_id`)."""
    rows = read_jsonl(Path(path))
    return bool(rows) and all(key in rows[0] for key in ("decision", "pair_id", "reviewer"))


def decisions_as_preferences(path: Path) -> tuple[list[dict], dict[str, int]]:
    """A decisions file read as preference rows, its pairs taken from `rl_pairs.jsonl` beside it."""
    path = Path(path)
    pairs = {str(p["id"]): p for p in read_jsonl(path.parent / PAIRS)}
    if not pairs:
        raise ValueError(f"{path}: no {PAIRS} beside it to take the decided pairs from")
    return preference_rows(DecisionLog(path).latest().values(), pairs)


def agreement(decisions: Iterable[Mapping]) -> dict[str, Any]:
    """AI-versus-people agreement per principle (and overall), and Cohen's kappa between each two reviewers.

    A decision of A or B agrees with an item when the item's probability
    points the same way; items at exactly 0.5 and ties or skips are not counted.
    """
    decisions = list(decisions)
    tallies: dict[str, list[float]] = {}
    for d in decisions:
        side = {"a": 1, "b": -1}.get(d["decision"])
        ai = d.get("ai") or {}
        if side is None:
            continue
        judged = dict(ai.get("items") or {})
        if ai.get("p_a") is not None:
            judged["(overall label)"] = ai["p_a"]
        for item, p in judged.items():
            said = direction(float(p))
            if said:
                tally = tallies.setdefault(item, [0.0, 0])
                tally[0] += said == side
                tally[1] += 1
    by_reviewer: dict[str, dict[str, str]] = {}
    for d in decisions:
        if d["decision"] != "skip":
            by_reviewer.setdefault(str(d["reviewer"]), {})[str(d["pair_id"])] = d["decision"]
    kappas = {}
    for first, second in combinations(sorted(by_reviewer), 2):
        shared = sorted(set(by_reviewer[first]) & set(by_reviewer[second]))
        kappas[f"{first} vs {second}"] = {"pairs": len(shared), "kappa": cohen_kappa([by_reviewer[first][p] for p in shared],
                                                                                      [by_reviewer[second][p] for p in shared])}
    return {"decisions": len(decisions), "reviewers": sorted({str(d["reviewer"]) for d in decisions}),
            "items": {item: Proportion(s, int(n)).to_dict() for item, (s, n) in sorted(tallies.items())}, "kappa": kappas}
