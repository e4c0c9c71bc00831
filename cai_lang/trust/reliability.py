"""How far each principle's AI labels deserve trust, read from a run's labels alone (`caic labels RUN_DIR`).

For every principle (and rule) and every feedback model, from `rl_labels.jsonl`:

- **order flips**: how often the preferred response changes when the two
  responses swap positions (the labeller scores both orders; a verdict whose
  two orders point different ways is position bias, not judgement);
- **near 0.5**: the share of soft labels within `NEAR` of 0.5;
- **agreement with the other principles' majority** on the same pair, and
  with the `detect` rules where a rule decided the same pair exactly;
- with an ensemble, **agreement between the models**.

A principle is flagged as no better than chance when its two orders agree
no more often than a coin would make them (the 95% Wilson interval of the
order agreement reaches 0.5), or when every label it gave sits within
`NEAR` of 0.5. `quarantine_labels` recomputes the labels without flagged
items, for `caic labels --quarantine` and the trainer that honours it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from cai_lang.trust.stats import Proportion, direction

NEAR = 0.05  # a soft label within this of 0.5 barely prefers either response
ALL_MODELS = "(combined)"


@dataclass
class ItemReliability:
    """The figures of one item under one feedback model (or the ensemble combined)."""

    item: str
    model: str
    judged: int = 0
    order_agreement: Proportion = field(default_factory=lambda: Proportion(0, 0))
    near_half: Proportion = field(default_factory=lambda: Proportion(0, 0))
    majority_agreement: Proportion = field(default_factory=lambda: Proportion(0, 0))
    detector_agreement: Proportion = field(default_factory=lambda: Proportion(0, 0))
    model_agreement: Proportion | None = None
    exact: bool = False  # a regex rule: judged without a model, nothing to flag

    @property
    def flips(self) -> float | None:
        value = self.order_agreement.value
        return None if value is None else 1.0 - value

    @property
    def flag(self) -> str | None:
        """Why this item's labels are no better than chance, or None."""
        if self.exact or not self.judged:
            return None
        if self.near_half.n and self.near_half.successes == self.near_half.n:
            return f"every label within {NEAR} of 0.5"
        if self.order_agreement.n and self.order_agreement.interval[0] <= 0.5:
            return "its two orders agree no more often than chance"
        return None

    def to_dict(self) -> dict:
        return {
            "item": self.item, "model": self.model, "judged": self.judged, "exact": self.exact,
            "order_flips": self.flips, "order_agreement": self.order_agreement.to_dict(),
            "near_half": self.near_half.to_dict(), "majority_agreement": self.majority_agreement.to_dict(),
            "detector_agreement": self.detector_agreement.to_dict(),
            "model_agreement": self.model_agreement.to_dict() if self.model_agreement else None,
            "flag": self.flag,
        }


def _per_model(row: Mapping, item: str) -> list[tuple[str, float, float | None, float | None]]:
    """(model, order-averaged P(A better), P with A first, P with A second) per feedback model for one item."""
    detail = (row.get("details") or {}).get(item) or {}
    models = list(row.get("feedback_models") or [])
    averaged = list(detail.get("per_model") or [])
    orders = list(detail.get("per_model_orders") or [])
    if not averaged:
        return []
    names = models if len(models) == len(averaged) else [f"model {k + 1}" for k in range(len(averaged))]
    found = []
    for k, (name, p) in enumerate(zip(names, averaged)):
        if k < len(orders):
            first, second = orders[k]
        elif len(averaged) == 1:  # labels written before per-model orders were kept: one model's orders are the verdict's
            first, second = detail.get("p_a_first"), detail.get("p_a_second")
        else:
            first = second = None
        found.append((name, float(p), first, second))
    return found


def _majority(items: Mapping[str, float], leave_out: str) -> int:
    """+1 or −1 when most other items prefer A or B, 0 on a tie or when no other item judged."""
    total = sum(direction(p) for i, p in items.items() if i != leave_out)
    return (total > 0) - (total < 0)


def reliability(labels: Iterable[Mapping]) -> list[ItemReliability]:
    """The figures for every item and model found in the label rows, items in first-seen order."""
    counts: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    exact_items: set[str] = set()
    order: list[tuple[str, str]] = []

    def add(key: tuple[str, str], figure: str, success: bool | float) -> None:
        if key not in counts:
            order.append(key)
        tally = counts[key][figure]
        tally[0] += float(success)
        tally[1] += 1

    for row in labels:
        items = {str(i): float(p) for i, p in (row.get("items") or {}).items()}
        exact = {str(i) for i in row.get("exact") or ()}
        exact_items |= exact
        rules = {i: direction(items[i]) for i in exact if direction(items[i])}
        for item, p in items.items():
            if item in exact:
                add((item, ALL_MODELS), "judged", True)
                continue
            models = _per_model(row, item) or [(ALL_MODELS, p, None, None)]
            if len(models) > 1:
                models = [(ALL_MODELS, p, None, None), *models]
                directions = {direction(m[1]) for m in models[1:]}
                add((item, ALL_MODELS), "models", len(directions) == 1 and 0 not in directions)
            majority = _majority(items, item)
            for name, value, first, second in models:
                key = (item, name)
                add(key, "judged", True)
                add(key, "near", abs(value - 0.5) < NEAR)
                if first is not None and second is not None and direction(first) and direction(second):
                    add(key, "orders", direction(first) == direction(second))
                if majority and direction(value):
                    add(key, "majority", direction(value) == majority)
                for rule, said in rules.items():
                    if rule != item and direction(value):
                        add(key, "detectors", direction(value) == said)

    found = []
    for key in order:
        tally = counts[key]

        def share(name: str) -> Proportion:
            successes, n = tally.get(name, (0.0, 0))
            return Proportion(successes, int(n))

        found.append(ItemReliability(
            item=key[0], model=key[1], judged=int(tally["judged"][1]), order_agreement=share("orders"), near_half=share("near"),
            majority_agreement=share("majority"), detector_agreement=share("detectors"),
            model_agreement=share("models") if "models" in tally else None, exact=key[0] in exact_items,
        ))
    return found


def flagged_items(table: Sequence[ItemReliability]) -> dict[str, str]:
    """Item -> why, for every item flagged under any model (the ensemble's combined figures included)."""
    flagged: dict[str, str] = {}
    for entry in table:
        if entry.flag and entry.item not in flagged:
            flagged[entry.item] = entry.flag if entry.model == ALL_MODELS else f"{entry.flag} ({entry.model})"
    return flagged


def quarantine_labels(labels: Sequence[Mapping], quarantined: Iterable[str], aggregator) -> tuple[list[dict], int]:
    """The labels recomputed without the quarantined items, and how many labels changed.

    Priority mode recombines the remaining items by tier (the aggregator's
    own rule); a sample-mode label drawn from a quarantined item becomes a
    0.5 tie, which no trainer learns a direction from. Each changed row
    records what was left out in `quarantined`.
    """
    left_out = set(quarantined)
    changed, out = 0, []
    for row in labels:
        items = {i: p for i, p in (row.get("items") or {}).items() if i not in left_out}
        dropped = sorted(set(row.get("items") or {}) & left_out)
        if not dropped:
            out.append(dict(row))
            continue
        new = dict(row, items=items, quarantined=dropped)
        if row.get("mode") == "sample" or not items:
            new.update(p_a=0.5, decided_by=None, tiers={})
        else:
            p, decided_by, tiers = aggregator.by_priority(items)
            new.update(p_a=p, decided_by=decided_by, tiers={str(k): v for k, v in tiers.items()})
        changed += new["p_a"] != row.get("p_a")
        out.append(new)
    return out, changed
