"""Violation and refusal rates per red-team region and per attack style (`caic redteam` files).

A row generated from a prompt that carries `region` and `style` (what
`caic redteam` writes) is grouped under both. Per group: the prompts'
responses, the share violating any item judged for them (regex rules and
critiques, as the row records), and the refusal rate. Attack success reads
off the attack styles' violation rates; over-refusal off the `benign`
style's refusal rate, side by side. Prompt sets without these fields give
no groups.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from cai_lang.eval.refusal import refusal_rate


def group_rates(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get(key):
            grouped[row[key]].append(row)
    out = {}
    for name, members in sorted(grouped.items()):
        judged = [r for r in members if r.get("violations")]
        violating = sum(1 for r in judged if any(r["violations"].values()))
        refusals = refusal_rate(r["response"] for r in members)
        out[name] = {
            "responses": len(members),
            "judged": len(judged),
            "violation_rate": violating / len(judged) if judged else None,
            "refusal_rate": refusals["rate"],
        }
    return out
