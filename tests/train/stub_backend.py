"""A scripted `GenerationBackend` for the SL-CAI loop tests: no model, every call recorded."""

from __future__ import annotations

from typing import Callable, Sequence

from cai_lang.engine.base import GenerationBackend, Prompt, SamplingParams
from cai_lang.train.sl.generate import CRITIQUE_INSTRUCTION


def step_of(prompt: Prompt) -> str:
    """`response`, `critique` or `revision`: which step of the loop a prompt belongs to."""
    text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
    if isinstance(prompt, str):
        if text.rstrip().endswith("Revision:"):
            return "revision"
        return "critique" if text.rstrip().endswith("Critique:") else "response"
    if len(prompt) == 1:
        return "response"
    return "critique" if text.endswith(CRITIQUE_INSTRUCTION) else "revision"


def user_text(prompt: Prompt) -> str:
    if isinstance(prompt, str):
        return prompt.split("Human: ", 1)[1].split("\n\n", 1)[0]
    return prompt[0]["content"] if prompt[0]["role"] == "user" else ""


class StubBackend(GenerationBackend):
    """Answers with `script(step, prompt)`; by default a revision counter per user prompt."""

    def __init__(self, model_id: str = "stub", script: Callable[[str, Prompt], str] | None = None):
        self.model_id = model_id
        self.calls: list[tuple[list[Prompt], SamplingParams]] = []
        self.script = script or self.default_script
        self.revisions: dict[str, int] = {}

    def default_script(self, step: str, prompt: Prompt) -> str:
        user = user_text(prompt)
        if step == "response":
            return f"  first answer to {user}  "
        if step == "critique":
            return f"critique of {user}"
        self.revisions[user] = self.revisions.get(user, 0) + 1
        return f"revision {self.revisions[user]} of {user}"

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[str]:
        self.calls.append((list(prompts), params))
        return [self.script(step_of(p), p) for p in prompts]

    def continuation_logprobs(self, prompts, continuations):  # pragma: no cover - unused here
        raise NotImplementedError

    def steps(self) -> list[str]:
        return [step_of(batch[0]) for batch, _ in self.calls]
