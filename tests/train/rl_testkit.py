"""Shared pieces of the RLAIF tests: a small constitution compiled through the public API, and a
feedback backend whose option log-probabilities are set by the test, so soft labels are known exactly.

The constitution is written here rather than taken from examples/ so the
tests do not move when someone edits an example. Its shape:

    tier 0: no_ssn (rule, detect regex), vivid (applies when fiction; unranked)
    tier 1: safe
    tier 2: honest (weight 3), helpful (weight 1)
    conflict vivid vs safe: safe when risk == high, vivid otherwise
    concise has critique/revision wording only, so it never judges a comparison
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Mapping, Sequence

from cai_lang.engine.base import GenerationBackend, SamplingParams

CONSTITUTION = r"""constitution rltest {
    version "0.1.0"
    description "A constitution for the RLAIF unit tests."
}

context {
    risk: low | high
    fiction: bool
}

action share_ssn "share a social security number"

rule no_ssn {
    never share_ssn
    detect regex "\b\d{3}-\d{2}-\d{4}\b"
}

principle safe {
    critique "Point out advice in the last response that could lead to physical injury."
    revision "Rewrite the response without advice that could lead to physical injury."
    compare "Which response is less likely to lead to physical injury?"
}

principle honest {
    critique "Point out claims in the last response that are stated with more certainty than the evidence allows."
    revision "Rewrite the response so that every claim states its real uncertainty."
    compare "Which response is more honest about what it does not know?"
    weight 3
}

principle helpful {
    critique "Point out where the last response fails to answer the exact question the user asked."
    revision "Rewrite the response so that it answers the exact question the user asked."
    compare "Which response answers the exact question the user asked more directly?"
}

principle vivid {
    critique "Point out flat, generic passages in the last story."
    revision "Rewrite the story with concrete, sensory detail in place of generic phrasing."
    compare "Which story uses more concrete, sensory detail?"
    applies when fiction
}

principle concise {
    critique "Point out sentences in the last response that repeat what was already said."
    revision "Rewrite the response without the repeated sentences, keeping every distinct point."
}

priority no_ssn > safe > helpful
priority safe > honest

conflict vivid vs safe {
    prefer safe when risk == high
    prefer vivid otherwise
}
"""


def compile_test_bundle(folder: Path):
    from cai_lang.api import compile_file

    path = folder / "rltest.const"
    path.write_text(CONSTITUTION, encoding="utf-8")
    (bundle,) = compile_file(path)
    return bundle


_SHOWN = re.compile(r"\(A\) (.*)\n\(B\) (.*)\n")


def shown_responses(prompt) -> tuple[str, str]:
    """The responses a rendered comparison prompt shows as (A) and (B)."""
    text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
    match = _SHOWN.search(text)
    assert match, f"no (A)/(B) options in {text!r}"
    return match.group(1), match.group(2)


class ControlledBackend(GenerationBackend):
    """A feedback model with set option scores.

    log P(option X) = quality[response shown as X] + (position_bias if X is the
    first option) - offset. The offset stands for the probability mass a real
    model puts on other tokens; normalising over the two options removes it.
    With d = quality[A] - quality[B] and bias b, the labeller must return
    (sigmoid(d + b) + sigmoid(d - b)) / 2.
    """

    model_id = "controlled"

    def __init__(self, quality: Mapping[str, float], position_bias: float = 0.0, offset: float = 7.0, reasoning: str = "Because. The answer is: (A)"):
        self.quality = dict(quality)
        self.position_bias = position_bias
        self.offset = offset
        self.reasoning = reasoning
        self.score_calls: list[tuple[list, list[str]]] = []
        self.generate_calls: list[tuple[list, SamplingParams | None]] = []

    def generate(self, prompts: Sequence, params: SamplingParams | None = None) -> list[str]:
        self.generate_calls.append((list(prompts), params))
        return [self.reasoning for _ in prompts]

    def continuation_logprobs(self, prompts: Sequence, continuations: Sequence[str]) -> list[float]:
        self.score_calls.append((list(prompts), list(continuations)))
        scores = []
        for prompt, option in zip(prompts, continuations):
            first, second = shown_responses(prompt)
            letter = option.strip().strip("()")
            response = first if letter == "A" else second
            bias = self.position_bias if letter == "A" else 0.0
            scores.append(self.quality[response] + bias - self.offset)
        return scores


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def expected_soft_label(quality_a: float, quality_b: float, bias: float) -> float:
    d = quality_a - quality_b
    return (sigmoid(d + bias) + sigmoid(d - bias)) / 2.0


class FixedLabeller:
    """Stands in for ComparisonLabeller in aggregation tests: P(A better) per item id, set by the test."""

    def __init__(self, by_item: Mapping[str, float]):
        self.by_item = dict(by_item)
        self.calls: list[list] = []

    def label(self, comparisons):
        from cai_lang.train.rl.labeller import Verdict

        self.calls.append(list(comparisons))
        return [Verdict(p_a=self.by_item[c.item_id], p_a_first=self.by_item[c.item_id], p_a_second=None, per_model=(self.by_item[c.item_id],)) for c in comparisons]
