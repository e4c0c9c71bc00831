"""Export to the JSON constitution format of the Hugging Face open Constitutional AI recipe.

That recipe (huggingface/llm-swarm's constitutional-ai example) reads a JSON
object with `constitutions`, a list of {"critic", "revision"} request pairs
it samples from uniformly, and `system_chat`, few-shot dialogues (lists of
{"role", "content"} messages) it places before every conversation. The
export takes a compiled bundle: every principle that serves the SL phase
and every rule, and one dialogue per complete few-shot (its conversation,
response, critique request, critique, revision request, revision): the
shared few-shots first, then each principle's own. Given the declaration
order (`declaration_order`), items and dialogues keep it, so that
`caic import --format hf-cai` followed by this export gives back the file
it read; a bundle alone does not record declaration order, and without it
items follow priority order (tier, then id). The format has no place for
conditions, weights, priorities, comparison questions or comparison
few-shots: `hf_cai_export` says what it left out, and `docs/compiler.md`
lists it.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from cai_lang.codegen.bundle import Bundle
from cai_lang.codegen.conditions import TRUE
from cai_lang.ir.model import Constitution

HF_CAI = "hf-cai"


def declaration_order(constitution: Constitution) -> list[str]:
    """Principle and rule ids in the order they were declared: the root file
    first, then each imported file in the order it was reached."""
    files: dict[str, int] = {}
    items = [*constitution.principles.values(), *constitution.rules.values()]
    for item in items:
        files.setdefault(item.node.span.file, len(files))
    return [item.id for item in sorted(items, key=lambda item: (files[item.node.span.file], item.node.span.start))]


def hf_cai_export(bundle: Bundle, order: Sequence[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The hf-cai JSON object for one bundle, and a note for each thing it left out."""
    rank = {item_id: index for index, item_id in enumerate(order or ())}
    items = [p for p in bundle.principles if "sl" in p.phases] + list(bundle.rules)
    if order is not None:
        items.sort(key=lambda item: (rank.get(item.id, len(rank)), item.id))
    else:
        items.sort(key=lambda item: (item.tier, item.id))
    constitutions = [{"critic": item.wording.critique_request, "revision": item.wording.revision_request} for item in items]
    principles = sorted(bundle.principles, key=lambda p: (rank.get(p.id, len(rank)), p.id)) if order is not None else list(bundle.principles)
    system_chat = [_dialogue(exemplar) for exemplar in _shared_then_own(bundle, [p.id for p in principles])]
    return {"constitutions": constitutions, "system_chat": system_chat}, _left_out(bundle, len(system_chat))


def hf_cai_constitution(bundle: Bundle, order: Sequence[str] | None = None) -> dict[str, Any]:
    """The hf-cai JSON object for one bundle."""
    return hf_cai_export(bundle, order)[0]


def hf_cai_json(bundle: Bundle, order: Sequence[str] | None = None) -> str:
    """The export as the text of a file: stable key order, indented, a final newline."""
    return json.dumps(hf_cai_constitution(bundle, order), indent=2, ensure_ascii=False) + "\n"


def _shared_then_own(bundle: Bundle, principle_ids: list[str]):
    yield from bundle.exemplars("revision", own=False)
    for principle_id in principle_ids:
        yield from bundle.exemplars("revision", principle_id, shared=False)


def _dialogue(exemplar: dict[str, Any]) -> list[dict[str, str]]:
    return [
        *exemplar["conversation"],
        {"role": "assistant", "content": exemplar["response"]},
        {"role": "user", "content": exemplar["critique_request"]},
        {"role": "assistant", "content": exemplar["critique"]},
        {"role": "user", "content": exemplar["revision_request"]},
        {"role": "assistant", "content": exemplar["revision"]},
    ]


def _left_out(bundle: Bundle, dialogues: int) -> list[str]:
    notes = []
    rl_only = [p.id for p in bundle.principles if "sl" not in p.phases]
    if rl_only:
        notes.append(f"principles without critique and revision wording left out: {', '.join(rl_only)}")
    few_shots = len(bundle.few_shot.examples) + sum(len(p.examples) for p in bundle.principles if "sl" in p.phases)
    if few_shots > dialogues:
        notes.append(f"{few_shots - dialogues} example(s) without a complete critique and revision left out")
    comparisons = len(bundle.few_shot.comparisons) + sum(len(p.comparisons) for p in bundle.principles)
    if comparisons:
        notes.append(f"{comparisons} comparison few-shot(s) left out: the format has no place for them")
    if any(p.applies.tree != TRUE for p in (*bundle.principles, *bundle.rules)) or any(p.weight != 1.0 for p in bundle.principles):
        notes.append("conditions and weights left out: the recipe samples every critique/revision pair uniformly")
    return notes
