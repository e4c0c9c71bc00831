"""Prompts' context labels against the constitution's context schema: reported at the start of a run, and
optionally inferred by the feedback model.

A condition such as `applies when topic == medical` is decided on a prompt's
labels; a label the schema does not accept (a value outside the enum, a
string where a bool is declared) is dropped and the variable counts as
unlabelled, so every condition on it "might apply". When most prompts of a
set carry such labels the applicability filter does little, and nothing
said so. `label_report` counts, per declared variable, the prompts whose
label is accepted, missing or unknown (with the commonest unknown values),
for the run to print and record before it generates anything.

`infer_context` (`--infer-context`) uses the constitution's own context
schema as a zero-shot classifier: for every prompt and every declared
variable the feedback model scores each declared value (`yes`/`no` for a
bool) as the answer to a question about the conversation, by
log-probability through `continuation_logprobs`, and the values' softmax is
the label's distribution. A prompt's accepted labels are kept; a missing or
unknown one takes the likeliest value, and every inferred variable is
recorded on the prompt with its probabilities. Scores are summed token
log-probabilities, so a value spelled with more tokens starts lower; the
recorded probabilities show it. The question is built in Python from the
schema and the prompt, and the prompt's text is data in it, never template
code. Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import Any, Mapping, Sequence

from cai_lang.codegen.bundle import Bundle
from cai_lang.train.run.conversation import to_transcript
from cai_lang.train.run.prompts import PromptRecord


def clean_labels(bundle: Bundle, labels: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Labels the bundle's context schema accepts, and the names of those dropped as unknown.

    Labels for undeclared variables are dropped silently (a prompt set serves
    many constitutions); a declared variable with a value of the wrong type or
    outside its enum is dropped and named.
    """
    schema = bundle.context_schema()
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in labels.items():
        spec = schema.get(name)
        if spec is None:
            continue
        if spec.kind == "bool" and isinstance(value, bool):
            kept[name] = value
        elif spec.kind == "enum" and isinstance(value, str) and value in spec.values:
            kept[name] = value
        else:
            dropped.append(name)
    return kept, sorted(dropped)


def _accepted(spec, value: Any) -> bool:
    if spec.kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, str) and value in spec.values


def label_report(bundle, records: Sequence[PromptRecord]) -> tuple[dict[str, Any], list[str]]:
    """Per declared variable: how many prompts label it acceptably, leave it out, or give an unknown value."""
    schema = bundle.context_schema()
    report: dict[str, Any] = {"prompts": len(records), "variables": {}}
    lines = [f"context labels of {len(records)} prompts against the schema of `{bundle.constitution.name}`:"]
    if not schema:
        return report, [lines[0] + " it declares no context variables"]
    for name, spec in sorted(schema.items()):
        unknown = Counter(repr(r.context[name]) for r in records if name in r.context and not _accepted(spec, r.context[name]))
        known = sum(1 for r in records if name in r.context and _accepted(spec, r.context[name]))
        missing = sum(1 for r in records if name not in r.context)
        report["variables"][name] = {
            "kind": spec.kind, "values": list(spec.domain()), "known": known, "missing": missing,
            "unknown": sum(unknown.values()), "unknown_values": dict(unknown.most_common()),
        }
        line = f"  {name}: {known} known, {missing} unlabelled, {sum(unknown.values())} unknown"
        if unknown:
            top = ", ".join(f"{value} ×{count}" for value, count in unknown.most_common(4))
            more = f", and {len(unknown) - 4} more" if len(unknown) > 4 else ""
            line += f" ({top}{more}; not among {', '.join(map(str, spec.domain()))}: read as unlabelled)"
        lines.append(line)
    return report, lines


# ---------------------------------------------------------------- inference


def _question(record: PromptRecord, name: str, spec) -> str:
    conversation = to_transcript(record.turns)
    if spec.kind == "bool":
        ask = f"Is the context variable `{name}` true of this conversation? Answer yes or no."
    else:
        ask = f"Which value of the context variable `{name}` describes this conversation? The options are: {', '.join(spec.values)}."
    return (
        "Here is a conversation between a human and an AI assistant:\n\n"
        f"{conversation}\n\n{ask}\n"
        "Answer with the option alone."
    )


def _options(spec) -> list[tuple[Any, str]]:
    if spec.kind == "bool":
        return [(True, "yes"), (False, "no")]
    return [(value, value) for value in spec.values]


def infer_context(records: Sequence[PromptRecord], backend, bundle, dialect: str) -> list[PromptRecord]:
    """The records with missing or unknown labels filled by the feedback model, each inferred one on `inferred`."""
    schema = bundle.context_schema()
    prompts: list[Any] = []
    continuations: list[str] = []
    asked: list[tuple[int, str, list[tuple[Any, str]]]] = []
    for i, record in enumerate(records):
        for name, spec in sorted(schema.items()):
            if name in record.context and _accepted(spec, record.context[name]):
                continue
            question = _question(record, name, spec)
            # Text dialect: the answer follows "Answer:" after a space; chat: the reply starts with it.
            prompt = f"{question}\n\nAnswer:" if dialect == "text" else [{"role": "user", "content": question}]
            options = _options(spec)
            for _, spelled in options:
                prompts.append(prompt)
                continuations.append(f" {spelled}" if dialect == "text" else spelled)
            asked.append((i, name, options))
    scores = backend.continuation_logprobs(prompts, continuations) if prompts else []
    inferred: list[dict[str, Any]] = [{} for _ in records]
    at = 0
    for i, name, options in asked:
        chunk = scores[at : at + len(options)]
        at += len(options)
        top = max(chunk)
        weights = [math.exp(s - top) for s in chunk]
        total = sum(weights)
        probabilities = {str(value).lower() if isinstance(value, bool) else value: w / total for (value, _), w in zip(options, weights)}
        best = options[max(range(len(options)), key=lambda k: chunk[k])][0]
        inferred[i][name] = {"value": best, "probabilities": probabilities, "given": records[i].context.get(name)}
    out = []
    for record, found in zip(records, inferred):
        if not found:
            out.append(record)
            continue
        context = {**record.context, **{name: entry["value"] for name, entry in found.items()}}
        out.append(replace(record, context=context, inferred=found))
    return out


def inference_lines(records: Sequence[PromptRecord]) -> list[str]:
    """One line per variable: how many labels were inferred and how they came out."""
    counts: dict[str, Counter] = {}
    for record in records:
        for name, entry in record.inferred.items():
            counts.setdefault(name, Counter())[str(entry["value"])] += 1
    if not counts:
        return ["context inference: every prompt's labels were already accepted; nothing inferred"]
    return [f"  inferred {name}: " + ", ".join(f"{value} ×{n}" for value, n in c.most_common()) for name, c in sorted(counts.items())]


def inferred_mapping(inferred: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form a row records (`inferred_context`)."""
    return {name: dict(entry) for name, entry in inferred.items()}
