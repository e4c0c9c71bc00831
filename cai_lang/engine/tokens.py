"""Turning prompts into token ids, and where a continuation's tokens begin.

`PromptEncoder` owns the two dialects on the token side: a text prompt gets
the tokenizer's own special prefix (a BOS for Llama-style models) and nothing
after it; a chat prompt is rendered with the chat template and its generation
prompt, then tokenised without adding specials, because the template already
wrote them. It also owns the boundary rule for scoring: a continuation is
scored by tokenising prompt+continuation as one string and counting only the
tokens after the longest prefix shared with the prompt's own tokenisation.
The rule never splits the joined text differently from how the model saw it
in training, which tokenising the continuation alone would (BPE folds a
leading space into the next word's token; SentencePiece would add a spurious
word-start marker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from cai_lang.engine.base import EngineError, Prompt, is_chat


@dataclass(frozen=True)
class Split:
    """Token ids of prompt+continuation; the last `n_continuation` are scored."""

    ids: list[int]
    n_continuation: int


class PromptEncoder:
    """Renders and tokenises prompts the same way for generating and scoring."""

    def __init__(self, tokenizer: Any, template_kwargs: dict[str, Any] | None = None):
        self.tokenizer = tokenizer
        # Options the chat template reads, e.g. {"enable_thinking": False} for Qwen3.
        self.template_kwargs = dict(template_kwargs or {})
        self.prefix, self.suffix = _special_affixes(tokenizer)
        # Control-token strings (`</s>`, `<|im_end|>`, ...) that may appear in
        # user text: red-team prompts and model responses are data, and must
        # never close a turn or end a text when tokenised.
        self.specials = sorted({t for t in getattr(tokenizer, "all_special_tokens", []) if t}, key=len, reverse=True)

    def render(self, prompt: Prompt) -> str:
        """The prompt as the exact text the model reads (chat rendered)."""
        if not is_chat(prompt):
            return prompt  # type: ignore[return-value]
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise EngineError(
                "this model's tokenizer has no chat template; send text prompts (plain strings) instead"
            )
        messages = [{**m, "content": self.defuse(str(m.get("content", "")))} for m in prompt]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **self.template_kwargs)

    def defuse(self, content: str) -> str:
        """Message text with any control-token string broken by a zero-width joiner.

        A chat prompt must be tokenised with special tokens recognised (the
        chat template writes them), so their strings inside message text are
        altered by one invisible character instead; text prompts need no
        such change, they are tokenised with special tokens split.
        """
        return defuse_strings(content, self.specials)

    def encode(self, text: str, chat: bool) -> list[int]:
        # Text prompts come from plain-text templates: any control-token string
        # in them is user data, so it is tokenised as ordinary text.
        ids = self.tokenizer(text, add_special_tokens=False, split_special_tokens=not chat)["input_ids"]
        # The special suffix (an EOS some tokenizers append) is left off: a
        # prompt is the start of a text, never a finished one.
        return list(ids) if chat else self.prefix + list(ids)

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        return self.encode(self.render(prompt), is_chat(prompt))

    def split(self, prompt: Prompt, continuation: str) -> Split:
        """Where the continuation's tokens start in the joined tokenisation."""
        chat = is_chat(prompt)
        text = self.render(prompt)
        prompt_ids = self.encode(text, chat)
        if not continuation:
            return Split(prompt_ids, 0)
        full_ids = self.encode(text + continuation, chat)
        shared = common_prefix(prompt_ids, full_ids)
        if shared == 0:
            raise EngineError(
                f"cannot score {continuation!r}: its first token has no context (the prompt is empty, or "
                "merges with the continuation into one token, and the tokenizer adds no BOS)"
            )
        if shared == len(full_ids):
            # Only a normaliser that drops text (trailing spaces, say) can make
            # the joined text tokenise to no more than the prompt.
            raise EngineError(f"the continuation {continuation!r} disappears when tokenised after the prompt")
        return Split(full_ids, len(full_ids) - shared)


# Control strings of the common chat formats (ChatML, Llama 2/3, Gemma, Phi,
# Mistral), for backends that cannot ask a tokenizer for its own list.
KNOWN_CONTROL = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>|</?s>|\[/?INST\]|<(?:start|end)_of_turn>|<(?:bos|eos|pad|unk)>")


def _break(token: str) -> str:
    return token[:1] + "\u200d" + token[1:]


def defuse_strings(content: str, specials: list[str]) -> str:
    """`content` with each of `specials` broken by a zero-width joiner after its first character."""
    for token in specials:
        if token in content:
            content = content.replace(token, _break(token))
    return content


def defuse_known(content: str) -> str:
    """The same for every string that looks like a control token of a common chat format."""
    return KNOWN_CONTROL.sub(lambda match: _break(match.group()), content)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids a tokenizer adds before and after text (BOS, EOS) by default."""
    probe = "caic"
    bare = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(probe)["input_ids"])
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    return [], []
