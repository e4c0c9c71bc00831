"""Conversations as data: message lists and `Human:` / `Assistant:` transcripts, read into one form.

Red-team and preference data (the Constitutional AI paper's, Anthropic HH)
is multi-turn, written either as trl's conversational format (a list of
`{"role", "content"}` messages) or as a transcript in the paper's text
dialect (`Human: …` / `Assistant: …` turns separated by blank lines). This
module reads both into a list of messages with the roles `system`, `user`
and `assistant`, refusing what is neither with the row it came from, and
writes a message list back as a transcript. A string is a transcript only
when it starts with `Human:`, so an ordinary prompt that happens to mention
"Assistant:" stays one user turn. Nothing here imports torch.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

ROLES = ("system", "user", "assistant")
# Other tools' names for the same roles (ShareGPT's human/gpt, HH's capitalised speakers).
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}
_SPEAKERS = {"Human": "user", "Assistant": "assistant"}
_TURN = re.compile(r"(?:^|\n)[ \t]*(Human|Assistant):[ \t]?")


def is_transcript(text: str) -> bool:
    """True when `text` is written as `Human:` / `Assistant:` turns (it starts with `Human:`)."""
    return text.lstrip().startswith("Human:")


def parse_transcript(text: str) -> list[dict[str, str]]:
    """The turns of a `Human:` / `Assistant:` transcript, in order, each stripped of surrounding blank lines."""
    body = text.lstrip()
    marks = list(_TURN.finditer(body))
    turns = []
    for mark, following in zip(marks, [*marks[1:], None]):
        end = following.start() if following else len(body)
        turns.append({"role": _SPEAKERS[mark.group(1)], "content": body[mark.end() : end].strip()})
    return turns


def as_messages(value: Any, role: str, where: str) -> list[dict[str, str]]:
    """A message list from a string (one `role` turn, or a transcript) or a list of messages; `where` names it in errors."""
    if isinstance(value, str):
        if is_transcript(value):
            return parse_transcript(value)
        return [{"role": role, "content": value}]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{where} must be text or a non-empty list of {{role, content}} messages")
    messages = []
    for n, message in enumerate(value, start=1):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ValueError(f"{where}: message {n} needs a text `content`")
        name = str(message.get("role", message.get("from", ""))).lower()
        name = _ROLE_ALIASES.get(name, name)
        if name not in ROLES:
            raise ValueError(f"{where}: message {n} has role {message.get('role')!r}; use one of {', '.join(ROLES)}")
        messages.append({"role": name, "content": message["content"]})
    return messages


def prompt_turns(value: Any, where: str) -> list[dict[str, str]]:
    """A prompt's conversation: it must end with the user's turn, the one the model answers."""
    messages = as_messages(value, "user", where)
    if messages[-1]["role"] != "user":
        raise ValueError(f"{where}: a prompt's conversation must end with a user turn, not {messages[-1]['role']!r}")
    if not messages[-1]["content"].strip():
        raise ValueError(f"{where}: the last user turn is empty")
    return messages


def to_transcript(messages: Sequence[dict[str, str]]) -> str:
    """A message list in the paper's text dialect; a system message leads, as plain text."""
    parts = []
    for message in messages:
        if message["role"] == "system":
            parts.append(message["content"])
        else:
            parts.append(f"{'Human' if message['role'] == 'user' else 'Assistant'}: {message['content']}")
    return "\n\n".join(parts)
