"""Import from the JSON constitution format of the Hugging Face open Constitutional AI recipe.

The format (see `cai_lang.codegen.hf_export`) is an object with
`constitutions`, a list of {"critic", "revision"} request pairs, and
`system_chat`, a list of few-shot dialogues of {"role", "content"}
messages. Each pair becomes a principle (`principle_01`, ... in file order)
with that critique and revision wording; each dialogue becomes a shared
`example` (shown before every principle's prompts, as the recipe does): its
messages up to the response under review are the conversation, and its last
four are the critique request, the critique, the revision request and the
revision, kept as the example's own `critique request` / `revision
request`. Nothing is reworded or dropped: anything that does not fit this
shape is refused with `HfImportError`, which names where it is. The result
is printed by the canonical printer, so it is already formatted, and the
constitution declares itself SL-only (`phase sl`) since the format has no
comparison questions.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cai_lang.errors import CaicError
from cai_lang.span import SourceFile
from cai_lang.syntax.module import parse_module
from cai_lang.syntax.printer import print_module
from cai_lang.syntax.strings import encode_literal

INDENT = "    "


class HfImportError(CaicError, ValueError):
    """A file that is not a constitution in the hf-cai format; the message says where."""


def import_hf_cai(text: str, name: str, source: str = "the input") -> str:
    """The `.const` text for an hf-cai JSON document; `name` becomes the constitution's name."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HfImportError(f"{source} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("constitutions"), list):
        raise HfImportError(f"{source} has no `constitutions` list, so it is not in the hf-cai format")
    extra = sorted(set(data) - {"constitutions", "system_chat"})
    if extra:
        raise HfImportError(f"{source} has keys the hf-cai format does not define, which the import would lose: {', '.join(extra)}")
    pairs = [_pair(entry, index) for index, entry in enumerate(data["constitutions"])]
    dialogues = data.get("system_chat", [])
    if not isinstance(dialogues, list):
        raise HfImportError("`system_chat` must be a list of dialogues")
    parts = [
        f"constitution {identifier(name)} {{\n{INDENT}description {encode_literal(f'Imported from {source} (Hugging Face CAI recipe format).', INDENT)}\n"
        f"{INDENT}phase sl\n}}\n"
    ]
    for index, dialogue in enumerate(dialogues):
        parts.append(_example(dialogue, index))
    width = max(2, len(str(len(pairs))))
    for index, (critic, revision) in enumerate(pairs, 1):
        parts.append(
            f"principle principle_{index:0{width}d} {{\n"
            f"{INDENT}critique {encode_literal(critic, INDENT)}\n{INDENT}revision {encode_literal(revision, INDENT)}\n}}\n"
        )
    written = "\n".join(parts)
    module, diagnostics = parse_module(SourceFile(f"{identifier(name)}.const", written))
    if diagnostics:  # the text above is built to parse; this guards the guarantee
        raise HfImportError("internal error: the imported constitution does not parse: " + diagnostics[0].message)
    return print_module(module, written)


def identifier(name: str) -> str:
    """A name usable as a constitution name: letters, digits and `_`, not starting with a digit."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name) or "imported"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def _pair(entry: Any, index: int) -> tuple[str, str]:
    where = f"`constitutions[{index}]`"
    if not isinstance(entry, dict) or set(entry) != {"critic", "revision"}:
        keys = ", ".join(sorted(entry)) if isinstance(entry, dict) else type(entry).__name__
        raise HfImportError(f"{where} must be an object with exactly `critic` and `revision`, not {keys}")
    if not all(isinstance(entry[key], str) for key in ("critic", "revision")):
        raise HfImportError(f"{where}: `critic` and `revision` must be strings")
    return entry["critic"], entry["revision"]


def _example(dialogue: Any, index: int) -> str:
    where = f"`system_chat[{index}]`"
    if not isinstance(dialogue, list) or not all(isinstance(m, dict) and set(m) == {"role", "content"} and isinstance(m["content"], str) for m in dialogue):
        raise HfImportError(f"{where} must be a list of {{role, content}} messages with string content")
    roles = [m["role"] for m in dialogue]
    expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(dialogue))]
    if len(dialogue) < 6 or len(dialogue) % 2 or roles != expected:
        raise HfImportError(
            f"{where} must alternate user and assistant, starting with the user, and end with the critique request, "
            f"critique, revision request and revision (at least 6 messages); its roles are {', '.join(roles) or 'none'}"
        )
    *conversation, response = dialogue[:-4]
    critique_request, critique, revision_request, revision = (m["content"] for m in dialogue[-4:])
    lines = [f"prompt {encode_literal(conversation[0]['content'], INDENT)}"]
    lines += [f"{m['role']} {encode_literal(m['content'], INDENT)}" for m in conversation[1:]]
    lines += [
        f"response {encode_literal(response['content'], INDENT)}",
        f"critique request {encode_literal(critique_request, INDENT)}",
        f"critique {encode_literal(critique, INDENT)}",
        f"revision request {encode_literal(revision_request, INDENT)}",
        f"revision {encode_literal(revision, INDENT)}",
    ]
    return "example {\n" + "".join(f"{INDENT}{line}\n" for line in lines) + "}\n"
