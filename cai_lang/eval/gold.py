"""Accuracy of the AI feedback against people: a file of human-judged comparisons, judged by the feedback model.

A comparison file holds conversations with a response people preferred and
one they rejected, in any layout `caic train --human-preferences` reads
(caic's and trl's `prompt`/`chosen`/`rejected`, or Anthropic HH's whole
conversations in `chosen`/`rejected`) or the layout of the Constitutional AI
paper's released HHH evaluation (`input` and `target_scores`, the preferred
response scored 1). Each row is judged by every principle that can judge it
(in both orders, as training labels are) and by the priority aggregation of
them all. Which response is shown as (A) is drawn per row from the seed, so
the calibration curve covers both halves of [0, 1].

Accuracy is the share of rows whose verdict prefers the people's choice (a
verdict of exactly 0.5 counts as half right), with a 95% Wilson interval;
calibration compares the predicted P(A better) with how often A was the
people's choice (expected calibration error over ten bins, and the curve).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from cai_lang.trust.stats import Proportion, calibration_bins, expected_calibration_error

OVERALL = "(all principles)"


@dataclass(frozen=True)
class GoldRow:
    id: str
    conversation: tuple[dict, ...]
    chosen: str
    rejected: str
    context: Mapping[str, Any]


def _reply_text(messages: Sequence[Mapping[str, str]]) -> str:
    return "\n\n".join(str(m.get("content", "")) for m in messages)


def _hhh_row(record: Mapping[str, Any], where: str) -> tuple[list[dict], str, str]:
    scores = record.get("target_scores")
    if not isinstance(scores, Mapping) or len(scores) != 2 or sorted(scores.values()) != [0, 1]:
        raise ValueError(f"{where}: `target_scores` must name two responses, one scored 1 and one 0")
    chosen = next(text for text, score in scores.items() if score == 1)
    rejected = next(text for text, score in scores.items() if score == 0)
    return [{"role": "user", "content": str(record["input"])}], chosen, rejected


def load_comparisons(path: str | Path) -> list[GoldRow]:
    """The rows of a comparison file; a row that cannot be read raises ValueError naming the file and row."""
    from cai_lang.train.run.formats import normalise_preference
    from cai_lang.train.run.prompts import read_text

    rows: list[GoldRow] = []
    seen: set[str] = set()
    for number, line in enumerate(read_text(Path(path), ValueError).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, row {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"{where}: a row must be a JSON object")
        if "target_scores" in record:
            conversation, chosen, rejected = _hhh_row(record, where)
        else:
            missing = [key for key in ("chosen", "rejected") if key not in record]
            if missing:
                raise ValueError(f"{where}: a comparison needs {', '.join(missing)} (or `input` and `target_scores`)")
            conversation, chosen_turns, rejected_turns = normalise_preference(record, where)
            chosen, rejected = _reply_text(chosen_turns), _reply_text(rejected_turns)
        row_id = str(record.get("id", f"row-{number}"))
        if row_id in seen:
            raise ValueError(f"{where}: id {row_id!r} appears twice")
        seen.add(row_id)
        rows.append(GoldRow(row_id, tuple(dict(t) for t in conversation), chosen, rejected, dict(record.get("context") or {})))
    if not rows:
        raise ValueError(f"{path}: no comparisons in the file")
    return rows


def chosen_first(row_id: str, seed: int) -> bool:
    """Whether the people's choice is shown as response A for this row (a per-row draw from the seed)."""
    return hashlib.sha256(f"{seed}\x00{row_id}".encode("utf-8")).digest()[0] % 2 == 0


@dataclass
class Score:
    """One item's (or the aggregate's) record on the comparison file."""

    name: str
    p_a: list[float]
    a_is_chosen: list[bool]

    @property
    def p_chosen(self) -> list[float]:
        return [p if first else 1.0 - p for p, first in zip(self.p_a, self.a_is_chosen)]

    @property
    def accuracy(self) -> Proportion:
        right = sum(1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0 for p in self.p_chosen)
        return Proportion(right, len(self.p_a))

    def to_dict(self) -> dict:
        bins = calibration_bins(self.p_a, self.a_is_chosen)
        return {
            "name": self.name, "rows": len(self.p_a), "accuracy": self.accuracy.to_dict(),
            "mean_p_chosen": sum(self.p_chosen) / len(self.p_a) if self.p_a else None,
            "ece": expected_calibration_error(self.p_a, self.a_is_chosen),
            "bins": [b.__dict__ for b in bins],
        }


def judge_comparisons(rows: Sequence[GoldRow], labeller, aggregator, seed: int = 0) -> dict[str, Score]:
    """Judge every row with every item that can; returns a Score per item and one for the aggregate (`OVERALL`)."""
    from cai_lang.train.rl.aggregate import label_pairs

    firsts = [chosen_first(r.id, seed) for r in rows]
    pairs = [
        {"id": r.id, "conversation": list(r.conversation), "context": dict(r.context),
         "response_a": r.chosen if first else r.rejected, "response_b": r.rejected if first else r.chosen}
        for r, first in zip(rows, firsts)
    ]
    labels = label_pairs(pairs, labeller, aggregator)
    scores: dict[str, Score] = {OVERALL: Score(OVERALL, [], [])}
    for label, first in zip(labels, firsts):
        scores[OVERALL].p_a.append(float(label.p_a))
        scores[OVERALL].a_is_chosen.append(first)
        for item, p in label.items.items():
            score = scores.setdefault(item, Score(item, [], []))
            score.p_a.append(float(p))
            score.a_is_chosen.append(first)
    return scores


def summary(scores: Mapping[str, Score]) -> dict:
    """The metrics as JSON-ready data, with the principle that was right most often."""
    items = {name: s.to_dict() for name, s in scores.items()}
    ranked = sorted((s for n, s in items.items() if n != OVERALL and s["rows"]), key=lambda s: (-(s["accuracy"]["value"] or 0), s["name"]))
    return {"overall": items.get(OVERALL), "items": {n: s for n, s in items.items() if n != OVERALL},
            "best_item": ranked[0]["name"] if ranked else None}
