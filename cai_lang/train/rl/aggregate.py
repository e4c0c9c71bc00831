"""From per-principle verdicts to one preference label per response pair.

A bundle has many principles and rules; a preference model needs one soft
label per pair. This module decides which items judge a pair and how their
verdicts combine, in one of two modes:

- `sample`, as in the Constitutional AI paper: one item per pair, drawn with
  probability proportional to its weight from the items that apply to the
  prompt's context. The draw is seeded by the pair's id, so relabelling a
  pair (or resuming a run) draws the same item.
- `priority`: every item that applies judges the pair. Items are grouped by
  priority tier (0 first); within a tier the verdicts combine as a weighted
  mean of probabilities; the first tier whose combined verdict is decisive
  (|p - 0.5| > `margin`) gives the label. When no tier is decisive the label
  is the weighted mean of all verdicts, which is then itself close to 0.5.

Both modes first apply the bundle's conflicts: when both sides of a conflict
apply to the prompt, the first clause whose condition holds for the prompt's
context labels names the side whose verdict counts, and the other side's is
set aside (recorded, never used). A clause whose condition depends on a
context variable the prompt does not label leaves the conflict undecided,
and both verdicts count. Rules with a `detect` regex are judged
exactly, without the model: a response the regex matches violates the rule,
so the other response is better (P = 1 or 0). When both or neither match,
the rule cannot tell the responses apart and abstains: it is neither drawn in
sample mode nor averaged into its tier in priority mode (a 0.5 there would
dilute a decisive principle beside it). Every label records the per-item probabilities, the
mode and the bundle's content hash.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

from cai_lang.codegen.bundle import Bundle, PrincipleEntry, RuleEntry
from cai_lang.detector import DetectorTimeout, detector_matches

logger = logging.getLogger(__name__)

Mode = Literal["sample", "priority"]


@dataclass(frozen=True)
class Plan:
    """Which items judge one pair: `model` items need the labeller; `exact` ones were decided by
    regex (P(A better) each); `abstained` regex rules matched both responses or neither."""

    counted: tuple[str, ...]
    model: tuple[str, ...]
    exact: Mapping[str, float]
    abstained: tuple[str, ...] = ()
    set_aside: tuple[dict, ...] = ()
    dropped_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreferenceLabel:
    """The label of one pair: P(A better) and how it came about."""

    pair_id: str
    p_a: float
    mode: Mode
    content_hash: str
    items: Mapping[str, float]
    exact: tuple[str, ...] = ()
    abstained: tuple[str, ...] = ()
    decided_by: int | str | None = None
    tiers: Mapping[int, float] = field(default_factory=dict)
    set_aside: tuple[dict, ...] = ()
    details: Mapping[str, dict] = field(default_factory=dict)
    dropped_labels: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "pair_id": self.pair_id,
            "p_a": self.p_a,
            "mode": self.mode,
            "content_hash": self.content_hash,
            "items": dict(self.items),
            "exact": list(self.exact),
            "abstained": list(self.abstained),
            "decided_by": self.decided_by,
            "tiers": {str(k): v for k, v in self.tiers.items()},
            "set_aside": [dict(s) for s in self.set_aside],
            "details": {k: dict(v) for k, v in self.details.items()},
            "dropped_labels": list(self.dropped_labels),
        }


def judge_exactly(rule: RuleEntry, response_a: str, response_b: str) -> float:
    """P(A better) under a rule with a `detect` regex: the response it matches violates the rule."""
    if rule.detect is None:
        raise ValueError(f"rule `{rule.id}` has no detect regex")
    try:
        a_violates = detector_matches(rule.detect, response_a)
        b_violates = detector_matches(rule.detect, response_b)
    except DetectorTimeout as exc:
        # Cannot tell: the rule abstains (and the plan names it) rather than guess.
        logger.warning("%s; rule `%s` abstains on this pair", exc, rule.id)
        return 0.5
    if a_violates == b_violates:
        return 0.5
    return 0.0 if a_violates else 1.0




class Aggregator:
    """Plans which items judge a pair and combines their verdicts, for one bundle and mode."""

    def __init__(self, bundle: Bundle, mode: Mode = "priority", *, margin: float = 0.05, seed: int = 0):
        if mode not in ("sample", "priority"):
            raise ValueError(f"aggregation mode is `sample` or `priority`, not {mode!r}")
        if not 0.0 <= margin < 0.5:
            raise ValueError(f"the decisive margin must be in [0, 0.5), got {margin}")
        self.bundle = bundle
        self.mode: Mode = mode
        self.margin = margin
        self.seed = seed

    # ------------------------------------------------------------ planning
    def judges(self, context: Mapping[str, object]) -> list[PrincipleEntry | RuleEntry]:
        """Items that can judge a comparison for a prompt with these context labels: those that
        apply and have a comparison question, or (rules) a detect regex."""
        found: list[PrincipleEntry | RuleEntry] = []
        for entry in (*self.bundle.principles, *self.bundle.rules):
            usable = "rl" in entry.phases or getattr(entry, "detect", None) is not None
            if usable and self.bundle.applies(entry.applies, context):
                found.append(entry)
        return found

    def resolve_conflicts(self, present: Sequence[str], context: Mapping[str, object]) -> tuple[list[str], list[dict]]:
        """Set aside the losing side of every conflict whose both sides are present; say what and why.

        Clauses are tried in order (conditional ones first, `otherwise`
        last). A clause whose condition holds for the labels picks its side.
        A clause that depends on an unlabelled variable stops the search:
        falling through to `otherwise` would treat "unknown" as "false", so
        the conflict stays undecided and both verdicts count.
        """
        kept = list(present)
        notes: list[dict] = []
        for conflict in self.bundle.conflicts:
            if conflict.left not in kept or conflict.right not in kept:
                continue
            name = f"{conflict.left} vs {conflict.right}"
            for clause in conflict.clauses:
                holds = self.bundle.decide(clause.when, context)
                if holds is None:
                    notes.append({"conflict": name, "undecided": clause.when.text if clause.when else "otherwise"})
                    break
                if holds:
                    loser = conflict.right if clause.prefer == conflict.left else conflict.left
                    kept.remove(loser)
                    notes.append(
                        {"conflict": name, "prefer": clause.prefer, "set_aside": loser, "because": clause.when.text if clause.when else "otherwise"}
                    )
                    break
        return kept, notes

    def plan(self, pair_id: str, context: Mapping[str, object], response_a: str, response_b: str) -> Plan:
        """Which items judge this pair. Regex rules are judged here, because a rule that cannot tell
        the responses apart must not be drawn in sample mode nor dilute its tier in priority mode.

        Context labels go through `run.context_labels.clean_labels` (as in the SL phase): a prompt set
        serves many constitutions, so labels this bundle does not declare, or
        values outside its enums, are dropped (and named in the plan) rather
        than failing the whole batch.
        """
        from cai_lang.train.run.context_labels import clean_labels

        context, dropped = clean_labels(self.bundle, context)
        judges = {entry.id: entry for entry in self.judges(context)}
        counted, set_aside = self.resolve_conflicts(list(judges), context)
        exact: dict[str, float] = {}
        abstained: list[str] = []
        for item_id in list(counted):
            entry = judges[item_id]
            if getattr(entry, "detect", None) is None:
                continue
            p = judge_exactly(entry, response_a, response_b)
            if p == 0.5:
                abstained.append(item_id)
                counted.remove(item_id)
            else:
                exact[item_id] = p
        if self.mode == "sample" and counted:
            counted = [self._draw(pair_id, [judges[i] for i in counted]).id]
            exact = {i: p for i, p in exact.items() if i in counted}
        model = tuple(i for i in counted if i not in exact)
        return Plan(tuple(counted), model, exact, tuple(abstained), tuple(set_aside), tuple(dropped))

    def model_items_at_most(self, context: Mapping[str, object]) -> int:
        """How many items of a pair with this context the feedback model may judge, before its responses are known
        (regex rules are judged here or abstain; sample mode asks one item at most). For progress estimates only."""
        from cai_lang.train.run.context_labels import clean_labels

        context, _ = clean_labels(self.bundle, context)
        judges = {entry.id: entry for entry in self.judges(context)}
        counted, _ = self.resolve_conflicts(list(judges), context)
        by_model = sum(getattr(judges[i], "detect", None) is None for i in counted)
        return min(by_model, 1) if self.mode == "sample" else by_model

    def _draw(self, pair_id: str, entries: list[PrincipleEntry | RuleEntry]) -> PrincipleEntry | RuleEntry:
        # A per-pair RNG: the draw depends on the seed and the pair only, not
        # on how many pairs were labelled before it.
        digest = hashlib.sha256(f"{self.seed}\x00{pair_id}".encode("utf-8")).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        weights = [max(entry.weight, 0.0) for entry in entries]
        if sum(weights) <= 0:
            weights = [1.0] * len(entries)
        return rng.choices(entries, weights=weights, k=1)[0]

    # ------------------------------------------------------------ combining
    def combine(
        self,
        pair_id: str,
        plan: Plan,
        verdicts: Mapping[str, float],
        details: Mapping[str, dict] | None = None,
    ) -> PreferenceLabel:
        """The pair's label from the model verdicts of `plan.model` (P(A better) per item)."""
        items = {i: float(plan.exact[i]) if i in plan.exact else float(verdicts[i]) for i in plan.counted}
        common = dict(
            pair_id=pair_id,
            mode=self.mode,
            content_hash=self.bundle.content_hash,
            items=items,
            exact=tuple(plan.exact),
            abstained=plan.abstained,
            set_aside=plan.set_aside,
            details=dict(details or {}),
            dropped_labels=plan.dropped_labels,
        )
        if not items:
            # Nothing that applies could judge this pair: no preference either way.
            return PreferenceLabel(p_a=0.5, **common)
        if self.mode == "sample":
            (only,) = items
            return PreferenceLabel(p_a=items[only], decided_by=only, **common)
        p, decided_by, tiers = self.by_priority(items)
        return PreferenceLabel(p_a=p, decided_by=decided_by, tiers=tiers, **common)

    def by_priority(self, items: Mapping[str, float]) -> tuple[float, int | None, dict[int, float]]:
        """(label, deciding tier or None, combined verdict per tier) for per-item probabilities."""
        by_tier: dict[int, list[str]] = {}
        for item_id in items:
            by_tier.setdefault(self.bundle.item(item_id).tier, []).append(item_id)
        tiers = {tier: self._weighted(items, ids) for tier, ids in sorted(by_tier.items())}
        for tier, p in tiers.items():
            if abs(p - 0.5) > self.margin:
                return p, tier, tiers
        return self._weighted(items, list(items)), None, tiers

    def _weighted(self, items: Mapping[str, float], ids: Sequence[str]) -> float:
        weights = [max(self.bundle.item(i).weight, 0.0) for i in ids]
        total = sum(weights)
        if total <= 0:
            return sum(items[i] for i in ids) / len(ids)
        return sum(w * items[i] for w, i in zip(weights, ids)) / total


def check_settings(labeller, aggregator: Aggregator) -> None:
    """Refuse a priority margin that a clamped CoT labeller can never exceed: every model
    verdict would be indecisive and only regex rules could ever decide a pair."""
    if aggregator.mode != "priority" or not getattr(labeller, "cot", False):
        return
    low, high = labeller.clamp
    if aggregator.margin >= min(0.5 - low, high - 0.5):
        raise ValueError(
            f"priority margin {aggregator.margin} is not below the CoT clamp band {labeller.clamp}: "
            "no model verdict could be decisive; lower the margin or widen the band"
        )


def label_pairs(pairs: Sequence[Mapping], labeller, aggregator: Aggregator, work=None) -> list[PreferenceLabel]:
    """Label response pairs (dicts with `id`, `conversation`, `context`, `response_a`, `response_b`).

    All model judgements of all pairs go to the labeller in one call, so the
    feedback model sees one long batched workload rather than many small ones.
    `labeller` is a `ComparisonLabeller` (or anything with its `label` method);
    `work`, a progress measure (`run.work.ChunkWork`), is passed on when given.
    """
    from cai_lang.train.rl.labeller import Comparison, ComparisonLabeller

    check_settings(labeller, aggregator)
    plans = [
        aggregator.plan(str(pair["id"]), pair.get("context") or {}, pair["response_a"], pair["response_b"]) for pair in pairs
    ]
    requests, owners = [], []
    for index, (pair, plan) in enumerate(zip(pairs, plans)):
        conversation = tuple(dict(turn) for turn in pair["conversation"])
        for item_id in plan.model:
            requests.append(Comparison(item_id, conversation, pair["response_a"], pair["response_b"]))
            owners.append((index, item_id))
    # Other labellers (test doubles) take the comparisons alone.
    progress = {"work": work} if work is not None and isinstance(labeller, ComparisonLabeller) else {}
    verdicts = labeller.label(requests, **progress) if requests else []
    found: list[dict[str, float]] = [{} for _ in pairs]
    details: list[dict[str, dict]] = [{} for _ in pairs]
    for (index, item_id), verdict in zip(owners, verdicts):
        found[index][item_id] = verdict.p_a
        details[index][item_id] = verdict.to_dict()
    return [
        aggregator.combine(str(pair["id"]), plan, found[i], details[i])
        for i, (pair, plan) in enumerate(zip(pairs, plans))
    ]
