"""Decoding helpers shared by the SL and RL phases and by `caic eval`.

How a user prompt becomes what a policy sees (`response_prompt`, in the
chat or the text dialect, with the text dialect's stop strings), how
prompts too long for a model's context are fitted (`fit_prompts`), and the
sampling seed of each generate call (`call_seed`, fixed by where the call
sits in a run, so a resumed run samples what an uninterrupted one would).
They sit below both phases so neither imports the other (the training
layers contract in pyproject.toml).
"""

from __future__ import annotations

import random
from typing import Mapping, Sequence

from cai_lang import api
from cai_lang.codegen.bundle import Bundle
from cai_lang.engine.base import Prompt
from cai_lang.train.config import DIALECTS  # noqa: F401  (the dialects a prompt is written in, for the phases)

TEXT_STOPS = ("\n\nHuman:", "\n\nCritiqueRequest:", "\n\nRevisionRequest:", "\n\n---")


def response_prompt(prompt: str | Sequence[Mapping[str, str]], dialect: str) -> Prompt:
    """What the policy sees to answer a user prompt or a conversation ending with the user's turn.

    Chat: the turns as messages. Text: the paper's transcript (`Human:` /
    `Assistant:` turns) ending with `Assistant:`.
    """
    from cai_lang.train.run.conversation import to_transcript

    turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if dialect == "chat":
        return turns
    return f"{to_transcript(turns)}\n\nAssistant:"


def check_long_prompts(action: str) -> None:
    from cai_lang.train.run.fit import LONG_PROMPT_ACTIONS

    if action not in LONG_PROMPT_ACTIONS:
        raise ValueError(f"long prompts are `skip`ped or `truncate`d, not {action!r}")


def fit_prompts(records, backend, bundle: Bundle, dialect: str, action: str, *, phase: str, generated: int):
    """`run.fit.fit_to_context` with the reserve a step needs: what it generates plus its longest template's text.

    The template's own length is measured on this bundle and backend, with
    empty turns, over every item that has wording for `phase`.
    """
    from cai_lang.train.run.fit import fit_to_context

    empty = [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]
    overhead = 0
    if backend.context_window() is not None:
        for item in [*bundle.principles, *bundle.rules]:
            try:
                shown = api.render_prompt(bundle, item.id, phase, dialect, conversation=empty, critique="", response_a="", response_b="", reasoning="")
            except ValueError:
                continue  # no wording for this phase
            overhead = max(overhead, backend.count_tokens(shown) or 0)
    return fit_to_context(
        records, backend, render=lambda r: response_prompt(r.turns, dialect), reserve=overhead + generated, action=action
    )


def call_seed(seed: int, chunk: int, round_index: int, step: str) -> int:
    """The sampling seed of one generate call: fixed by where it sits in the run, not by what ran before."""
    return random.Random(f"call:{seed}:{chunk}:{round_index}:{step}").getrandbits(31)
