"""Export to the JSON constitution format of the Hugging Face open Constitutional AI recipe.

That recipe (huggingface/llm-swarm's constitutional-ai example) reads a JSON
object with `constitutions`, a list of {"critic", "revision"} request pairs
it samples from uniformly, and `system_chat`, few-shot dialogues (lists of
{"role", "content"} messages) it places before every conversation. The
export takes a compiled bundle: every principle that serves the SL phase,
then every rule, in priority order (tier, then id), and one dialogue per
complete `example` block (prompt, response, critique request, critique,
revision request, revision). The format has no place for conditions,
weights, priorities or comparison questions, so those are left out;
`docs/compiler.md` says so.
"""

from __future__ import annotations

import json
from typing import Any

from cai_lang.codegen.bundle import Bundle

HF_CAI = "hf-cai"


def hf_cai_constitution(bundle: Bundle) -> dict[str, Any]:
    """The hf-cai JSON object for one bundle."""
    items = [p for p in bundle.principles if "sl" in p.phases] + list(bundle.rules)
    items.sort(key=lambda item: (item.tier, item.id))
    constitutions = [{"critic": item.wording.critique_request, "revision": item.wording.revision_request} for item in items]
    system_chat = []
    for exemplar in bundle.exemplars("revision"):
        system_chat.append(
            [
                {"role": "user", "content": exemplar["prompt"]},
                {"role": "assistant", "content": exemplar["response"]},
                {"role": "user", "content": exemplar["critique_request"]},
                {"role": "assistant", "content": exemplar["critique"]},
                {"role": "user", "content": exemplar["revision_request"]},
                {"role": "assistant", "content": exemplar["revision"]},
            ]
        )
    return {"constitutions": constitutions, "system_chat": system_chat}


def hf_cai_json(bundle: Bundle) -> str:
    """The export as the text of a file: stable key order, indented, a final newline."""
    return json.dumps(hf_cai_constitution(bundle), indent=2, ensure_ascii=False) + "\n"
