"""Reasoning models' thinking blocks: taken out of what is judged and trained on, and stepped over when scoring.

Qwen3, DeepSeek-R1 and their kin write `<think>...</think>` before the
answer (Qwen3 even writes an empty `<think>\n\n</think>` when thinking is
switched off by `enable_thinking=False`). A critique, a revision or a
response is the text after it: `strip_thinking` is the one function every
step calls before a text is critiqued, judged, compared or made an SFT
target. Three shapes occur: whole blocks; a response that starts inside a
block the chat template opened in the prompt (only `</think>` appears); and
a block cut off by the token limit (only `<think>`), which leaves no answer
after it. `ThinkingStats` counts what was removed, so a run can say so.

For scoring, a model that insists on thinking puts its probability on
`<think>`, not on "(A)". `THINK_CLOSE` prefixed to both options moves the
comparison past an (empty) block: the shared prefix's log-probability
cancels when the two options are normalised against each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# An empty block closed, as Qwen3's template writes one; what an answer after thinking starts with.
SKIP_THINKING = THINK_CLOSE + "\n\n"

_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)


@dataclass
class ThinkingStats:
    """How many texts had a thinking block removed, and how many held nothing but thinking."""

    stripped: int = 0
    only_thinking: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"thinking_stripped": self.stripped, "only_thinking": self.only_thinking}


def strip_thinking(text: str, stats: ThinkingStats | None = None) -> str:
    """`text` without its thinking: every closed block, anything before a lone `</think>`, and an unclosed
    `<think>` with everything after it. The answer is returned stripped of surrounding whitespace."""
    if "<" not in text:
        return text.strip()
    answer = _BLOCK.sub("", text)
    close = None
    for close in _CLOSE.finditer(answer):
        pass
    if close is not None:  # the block was opened in the prompt: only its end is in the text
        answer = answer[close.end():]
    opened = _OPEN.search(answer)
    if opened is not None:  # cut off mid-thought: nothing after it is an answer
        answer = answer[: opened.start()]
    answer = answer.strip()
    if stats is not None and answer != text.strip():
        stats.stripped += 1
        stats.only_thinking += not answer
    return answer


def insists_on_thinking(rendered_prompt: str) -> bool:
    """Whether a rendered generation prompt leaves the model inside an open thinking block (R1-style templates)."""
    tail = rendered_prompt.rstrip()
    last_open = tail.lower().rfind(THINK_OPEN)
    return last_open != -1 and tail.lower().find(THINK_CLOSE, last_open) == -1


def answer_prefix_for(backend) -> str:
    """`SKIP_THINKING` for a local model whose chat template leaves the reply inside an open thinking block,
    else "". Servers are not probed: their rendered prompt is not visible from here."""
    encoder = getattr(backend, "encoder", None)
    if encoder is None or not getattr(encoder.tokenizer, "chat_template", None):
        return ""
    return SKIP_THINKING if insists_on_thinking(encoder.render([{"role": "user", "content": "?"}])) else ""
