"""The reward server's request formats: caic's `/judge` body and OpenRLHF's remote reward-model body, parsed
into `GroupRequest`s with every field checked and bounded (docs/distributed.md has the protocol).

A malformed or oversized request raises `RequestError`, whose message names
the field and whose `status` is the HTTP answer (422, or 400/413).
"""

from __future__ import annotations

import json
import re
from typing import Any

from cai_lang.engine.tokens import KNOWN_CONTROL
from cai_lang.judge.core import request
from cai_lang.train.rl.rewards import GroupRequest

MAX_TEXT = 65536  # characters in one prompt, response or label
MAX_RESPONSES = 64  # responses in one group
MAX_TURNS = 64  # turns in one conversation
MAX_QUERIES = 256  # queries in one OpenRLHF request
_TRAILING_CONTROL = re.compile(rf"(?:\s*(?:{KNOWN_CONTROL.pattern}))+\s*$")


class RequestError(ValueError):
    """The request is malformed or too large; the message says which field and why."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def _text(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RequestError(f"`{where}` must be a string")
    if len(value) > MAX_TEXT:
        raise RequestError(f"`{where}` is {len(value)} characters; the most this server takes is {MAX_TEXT}")
    return value


def _conversation(value: Any, where: str) -> list[dict[str, str]] | str:
    if isinstance(value, str):
        return _text(value, where)  # type: ignore[return-value]
    if not isinstance(value, list) or not value:
        raise RequestError(f"`{where}` must be a string or a non-empty list of {{role, content}} turns")
    if len(value) > MAX_TURNS:
        raise RequestError(f"`{where}` has {len(value)} turns; the most this server takes is {MAX_TURNS}")
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict) or turn.get("role") not in ("system", "user", "assistant"):
            raise RequestError(f"`{where}[{i}]` must be an object with role system, user or assistant")
        turns.append({"role": turn["role"], "content": _text(turn.get("content"), f"{where}[{i}].content")})
    return turns


def _context(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 64:
        raise RequestError(f"`{where}` must be an object of at most 64 context labels")
    return value


def parse_judge(body: Any) -> GroupRequest:
    """caic's own protocol: `{prompt, responses, context?, reference?}`."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    unknown = sorted(set(body) - {"prompt", "responses", "context", "reference", "labels"})
    if unknown:
        raise RequestError(f"unknown field(s): {', '.join(unknown)}")
    responses = body.get("responses")
    if not isinstance(responses, list) or not responses:
        raise RequestError("`responses` must be a non-empty list of strings")
    if len(responses) > MAX_RESPONSES:
        raise RequestError(f"`responses` has {len(responses)} items; the most this server takes is {MAX_RESPONSES}")
    return request(
        _conversation(body.get("prompt"), "prompt"),
        [_text(r, f"responses[{i}]") for i, r in enumerate(responses)],  # type: ignore[misc]
        context=_context(body.get("context"), "context"),
        reference=_text(body.get("reference"), "reference", optional=True),
    )


def parse_openrlhf(body: Any) -> tuple[list[GroupRequest], list[tuple[int, int]]]:
    """OpenRLHF's remote RM request: groups of queries sharing a prompt and label, and where each query went."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    queries = body.get("query")
    if not isinstance(queries, list) or not queries:
        raise RequestError("`query` must be a non-empty list of strings")
    if len(queries) > MAX_QUERIES:
        raise RequestError(f"`query` has {len(queries)} items; the most this server takes is {MAX_QUERIES}")
    prompts = body.get("prompts")
    if not isinstance(prompts, list) or len(prompts) != len(queries):
        raise RequestError("`prompts` must be a list of strings, one per query")
    labels = body.get("labels")
    if labels is None:
        labels = [None] * len(queries)
    if not isinstance(labels, list) or len(labels) != len(queries):
        raise RequestError("`labels` must be a list, one per query (or left out)")
    groups: dict[tuple[str, str], list[int]] = {}
    responses = []
    for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels)):
        query, prompt = _text(query, f"query[{i}]"), _text(prompt, f"prompts[{i}]")
        if not query.startswith(prompt):  # type: ignore[union-attr]
            raise RequestError(f"query[{i}] does not start with prompts[{i}], so the response cannot be told from the prompt")
        responses.append(_TRAILING_CONTROL.sub("", query[len(prompt) :]).strip())  # type: ignore[arg-type,index]
        label_key = label if isinstance(label, str) else json.dumps(label, sort_keys=True)
        groups.setdefault((prompt, label_key), []).append(i)  # type: ignore[arg-type]
    out, where = [], [(0, 0)] * len(queries)
    for g, ((prompt, _), members) in enumerate(groups.items()):
        conversation, context, reference = _label_meta(labels[members[0]], prompt, f"labels[{members[0]}]")
        out.append(request(conversation, [responses[i] for i in members], context=context, reference=reference))
        for k, i in enumerate(members):
            where[i] = (g, k)
    return out, where


def _label_meta(label: Any, prompt: str, where: str) -> tuple[Any, dict, str | None]:
    """(conversation, context, reference) from an OpenRLHF label: caic's metadata, or a reference answer."""
    if isinstance(label, str) and label.startswith("{"):
        try:
            label = json.loads(label)
        except json.JSONDecodeError:
            pass
    if isinstance(label, dict):
        meta = label.get("caic", label)
        conversation = _conversation(meta["conversation"], f"{where}.conversation") if "conversation" in meta else prompt
        return conversation, _context(meta.get("context"), f"{where}.context"), _text(meta.get("reference"), f"{where}.reference", optional=True)
    return prompt, {}, _text(label, where, optional=True)
