"""Rendering `caic diff`: text that reads like a code review (one block per
change: what changed, the witness, the old and the new source line) and the
JSON of section 8."""

from __future__ import annotations

import json
from collections import Counter

from cai_lang.review.diff import Change, DiffResult
from cai_lang.review.report import show_witness

_DESCRIBE = {
    "looser": "permitted in more contexts",
    "stricter": "permitted in fewer contexts",
    "incomparable": "permitted in some new contexts and no longer in others",
}


def _value(value) -> str:
    if value is None:
        return "none"
    return str(value)


def _line(result: DiffResult, sign: str, span) -> str | None:
    if span is None:
        return None
    source = result.sources.get(span.file)
    text = source.line_text(span.line).strip() if source is not None else ""
    return f"    {sign} {span.file}:{span.line}  {text}"


def _headline(change: Change) -> str:
    if change.kind == "verdict":
        extra = _DESCRIBE.get(change.change)
        return f"verdict on `{change.item}`: {change.change}" + (f" ({extra})" if extra else "")
    if change.kind == "preference":
        return f"preference `{change.item}`: winner {_value(change.old)} -> {_value(change.new)}"
    if change.kind == "bundle":
        return f"bundle: content_hash {change.old[:16]} -> {change.new[:16]}"
    if change.kind == "context":
        return f"context variable `{change.item}`: {change.change}"
    return f"{change.kind} `{change.item}`: {change.change}"


def render_text(result: DiffResult) -> str:
    if not result.changes:
        return f"no change of behaviour between {result.old_file} and {result.new_file}\n"
    out = [f"--- {result.old_file}", f"+++ {result.new_file}"]
    current = object()
    for change in result.changes:
        if change.deployment != current:
            current = change.deployment
            out.append("")
            out.append("context schema" if current is None else f"deployment `{current}`")
        out.append(f"  {_headline(change)}")
        if change.also_in:
            out.append(f"    (also in {', '.join(f'`{d}`' for d in change.also_in)})")
        if change.kind in ("verdict",) or (change.kind == "principle" and change.change == "weight changed") or change.kind in ("context", "rule") and change.old is not None:
            out.append(f"    old: {_value(change.old)}   new: {_value(change.new)}")
        if change.witness is not None:
            out.append(f"    witness: {show_witness(change.witness)}")
        if change.witness_other is not None:
            out.append(f"    against: {show_witness(change.witness_other)}")
        for sign, span in (("-", change.old_span), ("+", change.new_span)):
            line = _line(result, sign, span)
            if line is not None:
                out.append(line)
    counts = Counter(c.kind for c in result.changes)
    out.append("")
    out.append(f"{len(result.changes)} change{'s' if len(result.changes) != 1 else ''} (" + ", ".join(f"{n} {k}" for k, n in counts.items()) + ")")
    return "\n".join(out) + "\n"


def _change_json(change: Change) -> dict:
    data = {
        "kind": change.kind,
        "deployment": change.deployment,
        "item": change.item,
        "change": change.change,
        "old": change.old,
        "new": change.new,
        "witness": change.witness,
        **({"witness_other": change.witness_other} if change.witness_other is not None else {}),
    }
    if change.also_in:
        data["also_in"] = change.also_in
    for key, span in (("old_location", change.old_span), ("new_location", change.new_span)):
        data[key] = {"file": span.file, "line": span.line, "column": span.column} if span is not None else None
    return data


def render_json(result: DiffResult) -> str:
    summary = {"changes": len(result.changes), "by_kind": dict(Counter(c.kind for c in result.changes)), "hashes": result.hashes}
    return json.dumps({"changes": [_change_json(c) for c in result.changes], "summary": summary}, indent=2)
