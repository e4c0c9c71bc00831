"""Prompts longer than the model's context, found and handled one by one before anything is generated.

A prompt that cannot fit (a 200 KB paste, a long red-team transcript) used
to reach the model inside a batch, where it failed with an allocation error
that named no prompt and took the batch's good rows with it. Here each
prompt is measured with the backend's own tokenisation, as the model would
see it, against the context window less what the step still needs after it
(`reserve`: the tokens it generates and the template text and responses its
later prompts add). An oversized prompt is skipped, or (`truncate`) cut from
the left: a conversation loses its oldest turns first, then the start of
its first remaining turn, since the end of a prompt is what the model
answers. Every such prompt is returned as an `Oversize` event for the run to
print and record. A backend that cannot count tokens or name its window (a
server) is not checked, and the caller says so. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

from cai_lang.engine.base import GenerationBackend, Prompt
from cai_lang.train.run.prompts import PromptRecord

LONG_PROMPT_ACTIONS = ("skip", "truncate")


@dataclass(frozen=True)
class Oversize:
    """One prompt that did not fit: how long it was, the budget, and what was done."""

    id: str
    tokens: int
    budget: int
    window: int
    action: str  # "skipped" or "truncated"
    kept_tokens: int | None = None
    dropped_turns: int = 0

    @property
    def reason(self) -> str:
        return f"{self.tokens} tokens, over the {self.budget} a prompt may take (context window {self.window})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reason": self.reason}


def fit_to_context(
    records: Sequence[PromptRecord],
    backend: GenerationBackend,
    *,
    render: Callable[[PromptRecord], Prompt],
    reserve: int,
    action: str = "skip",
) -> tuple[list[PromptRecord], list[Oversize], bool]:
    """(records that fit, possibly cut; one event per oversized prompt; whether the backend could check).

    `render` turns a record into the prompt the model gets first; `reserve`
    is how many tokens the step needs beyond it.
    """
    if action not in LONG_PROMPT_ACTIONS:
        raise ValueError(f"long prompts are skipped or truncated, not {action!r}")
    window = backend.context_window()
    if window is None or backend.count_tokens([{"role": "user", "content": "x"}]) is None:
        return list(records), [], False
    budget = window - reserve
    if budget < 16:
        raise ValueError(
            f"the model's context window ({window} tokens) leaves {budget} for a prompt after the {reserve} the step "
            "needs for what it generates; lower --max-new-tokens"
        )
    kept: list[PromptRecord] = []
    events: list[Oversize] = []
    for record in records:
        tokens = backend.count_tokens(render(record)) or 0
        if tokens <= budget:
            kept.append(record)
            continue
        if action == "skip":
            events.append(Oversize(record.id, tokens, budget, window, "skipped"))
            continue
        cut, dropped = _truncate(record, backend, render, budget)
        kept.append(cut)
        events.append(Oversize(record.id, tokens, budget, window, "truncated", backend.count_tokens(render(cut)), dropped))
    return kept, events, True


def _truncate(record: PromptRecord, backend: GenerationBackend, render, budget: int) -> tuple[PromptRecord, int]:
    def fits(candidate: PromptRecord) -> bool:
        return (backend.count_tokens(render(candidate)) or 0) <= budget

    history = list(record.history)
    dropped = 0
    # Oldest turns go first; the conversation then starts with a user turn again.
    while history and not fits(replace(record, history=tuple(history))):
        history.pop(0)
        dropped += 1
        while history and history[0]["role"] == "assistant":
            history.pop(0)
            dropped += 1
    candidate = replace(record, history=tuple(history))
    if fits(candidate):
        return candidate, dropped
    # Then the start of the prompt itself: the longest tail that fits, found by bisection on characters.
    text = record.prompt
    low, high = 1, len(text)  # low: chars dropped that may still be too few; high: known to fit (all but none)
    while low < high:
        middle = (low + high) // 2
        if fits(replace(candidate, prompt=text[middle:])):
            high = middle
        else:
            low = middle + 1
    return replace(candidate, prompt=text[low:]), dropped


def describe(events: Sequence[Oversize], checked: bool, where: str) -> list[str]:
    """Lines for the terminal: one per oversized prompt, or why nothing was checked."""
    if not checked:
        return [f"{where}: prompt lengths not checked (the backend does not report its context window)"]
    return [f"{where}: prompt {e.id!r} {e.action}: {e.reason}" + (f"; kept {e.kept_tokens} tokens" if e.kept_tokens else "") for e in events]


def report_long_prompts(stats: Any, action: str, reporter: Any) -> dict[str, Any] | None:
    """Say which prompts were over the policy's context and what was done; the same, as run.json's step records it."""
    if stats is None:
        return None
    for line in getattr(stats, "context_lines", ()):
        reporter.phase(line)
    for line in describe(stats.oversize, stats.lengths_checked, "long prompts"):
        reporter.phase(line)
    return {"action": action, "checked": stats.lengths_checked, "prompts": [e.to_dict() for e in stats.oversize]}
