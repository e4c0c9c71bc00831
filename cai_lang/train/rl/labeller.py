"""The comparison labeller: a feedback model's soft verdict on which of two responses is better.

trl 1.x ships no judges, so the RLAIF labeller is ours. For one comparison
(a principle or rule of the bundle, a conversation, and two responses) it
renders the bundle's `compare` template with the responses as (A) and (B),
asks the feedback model for the log-probability of each answer option with
`continuation_logprobs`, and normalises over the two options:
P(A better) = exp(l_A) / (exp(l_A) + exp(l_B)). Every comparison is scored in
both orders (A first, then B first) and the two probabilities of "the
original A is better" are averaged, which cancels a model's preference for a
position. All options of all orders of all comparisons go to the backend in
one `continuation_logprobs` call, which batches them into forward passes.

The chain-of-thought mode first generates reasoning from the `compare_cot`
template, then scores the options after it with `compare_cot_answer`, and
clamps the final probability into a band (0.4 to 0.6 by default: the paper
found clamped CoT labels trained better preference models, because reasoning
makes the model's answers overconfident). Several feedback models form a
constitutional ensemble: each labels every comparison and their
probabilities are averaged (`ensemble="mean"`, the default) or turned into a
soft vote (`ensemble="vote"`: the share of models that prefer A, ties half).
Nothing here imports torch; backends bring their own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

from cai_lang.codegen.bundle import Bundle
from cai_lang.engine.base import EngineError, GenerationBackend, SamplingParams
from cai_lang.train.run.work import ChunkWork

Dialect = Literal["chat", "text", "paper"]

# Where the answer goes decides its spelling. A text prompt ends "The answer
# is:", and byte-level BPE folds the separating space into the next token, so
# the option carries the space (" (A)"); a chat prompt ends with the
# assistant header and a newline, after which the reply starts bare ("(A)").
DEFAULT_OPTIONS: dict[str, tuple[str, str]] = {"chat": ("(A)", "(B)"), "text": (" (A)", " (B)"), "paper": (" (A)", " (B)")}

# The CoT templates ask the model to end with "The answer is: (A)"; the
# reasoning handed to the answer step must stop before that, or the answer
# step would merely copy it.
_ANSWER_CUE = re.compile(r"the answer is", re.IGNORECASE)


@dataclass(frozen=True)
class Comparison:
    """One question for the labeller: which response is better by `item_id`'s comparison question."""

    item_id: str
    conversation: tuple[Mapping[str, str], ...]
    response_a: str
    response_b: str


@dataclass(frozen=True)
class FeedbackModel:
    """A backend and how to speak to it: the template dialect and the two option strings."""

    backend: GenerationBackend
    dialect: Dialect = "chat"
    options: tuple[str, str] | None = None
    # Scored before either option, e.g. "</think>\n\n" for a model whose template opens a thinking block:
    # the shared prefix cancels between the two options, so the letters are compared after the block.
    answer_prefix: str = ""

    @property
    def option_texts(self) -> tuple[str, str]:
        a, b = self.options or DEFAULT_OPTIONS[self.dialect]
        return self.answer_prefix + a, self.answer_prefix + b


@dataclass(frozen=True)
class Verdict:
    """The labeller's answer for one comparison.

    `p_a` is the soft label P(A better) after order averaging, ensembling and
    (in CoT mode) clamping. `p_a_first` and `p_a_second` are P(A better)
    with A shown as option (A), and with A shown as option (B) (the swapped
    order), each averaged over models and unclamped; `per_model` holds each
    model's order-averaged probability, unclamped.
    """

    p_a: float
    p_a_first: float
    p_a_second: float | None
    per_model: tuple[float, ...]
    reasoning: tuple[str, ...] = ()
    # Each model's (P(A better) with A first, with A second or None), unclamped: the
    # position-bias figures of `caic labels` read them per model.
    per_model_orders: tuple[tuple[float, float | None], ...] = ()

    def to_dict(self) -> dict:
        return {
            "p_a": self.p_a,
            "p_a_first": self.p_a_first,
            "p_a_second": self.p_a_second,
            "per_model": list(self.per_model),
            **({"reasoning": list(self.reasoning)} if self.reasoning else {}),
            **({"per_model_orders": [list(o) for o in self.per_model_orders]} if self.per_model_orders else {}),
        }


def option_probability(logprob_a: float, logprob_b: float) -> float:
    """P(first option) when the model must pick one of two: a softmax over the two log-probabilities.

    Written as a logistic of the difference so that two very negative
    log-probabilities (long options, a model far from either) do not underflow.
    """
    d = logprob_a - logprob_b
    if d >= 0:
        return 1.0 / (1.0 + math.exp(-d))
    e = math.exp(d)
    return e / (1.0 + e)


def clean_reasoning(text: str) -> str:
    """The reasoning as the answer template expects it: stripped and cut before any "The answer is"."""
    match = _ANSWER_CUE.search(text)
    if match:
        text = text[: match.start()]
    return text.strip()


@dataclass
class ComparisonLabeller:
    """Soft comparison labels from one feedback model or an ensemble of them.

    `both_orders=False` scores only the order A-then-B (half the work; kept
    for measuring what the swap costs, not for training data). `cot=True`
    generates reasoning first with `cot_params` and clamps to `clamp`.
    """

    bundle: Bundle
    models: Sequence[FeedbackModel]
    both_orders: bool = True
    cot: bool = False
    clamp: tuple[float, float] = (0.4, 0.6)
    cot_params: SamplingParams = field(default_factory=lambda: SamplingParams(max_new_tokens=128, temperature=0.0, do_sample=False))
    ensemble: Literal["mean", "vote"] = "mean"

    def __post_init__(self) -> None:
        if isinstance(self.models, (GenerationBackend, FeedbackModel)):
            self.models = [self.models]
        self.models = [m if isinstance(m, FeedbackModel) else FeedbackModel(m) for m in self.models]
        if not self.models:
            raise ValueError("the labeller needs at least one feedback model")
        low, high = self.clamp
        if not 0.0 <= low <= 0.5 <= high <= 1.0:
            raise ValueError(f"the clamp band must contain 0.5 and lie in [0, 1], got {self.clamp}")
        if self.ensemble not in ("mean", "vote"):
            raise ValueError(f"ensemble is `mean` or `vote`, not {self.ensemble!r}")

    @classmethod
    def from_backends(cls, bundle: Bundle, backends: Sequence[GenerationBackend] | GenerationBackend, *, dialect: Dialect = "chat", **options) -> "ComparisonLabeller":
        if isinstance(backends, GenerationBackend):
            backends = [backends]
        return cls(bundle, [FeedbackModel(b, dialect) for b in backends], **options)

    # ------------------------------------------------------------ public
    def label(self, comparisons: Sequence[Comparison], work: ChunkWork | None = None) -> list[Verdict]:
        """One verdict per comparison, in order. Each model sees every comparison in one batched call.

        `work` (a progress measure, `run.work.ChunkWork`) is told the engine
        inputs these calls need and done; it changes no verdict.
        """
        if not comparisons:
            return []
        work = work or ChunkWork(None, 0)
        work.need(self.engine_inputs(len(comparisons)))
        per_model = [self._score_model(model, comparisons, work) for model in self.models]
        verdicts = []
        for i in range(len(comparisons)):
            rows = [scored[i] for scored in per_model]  # (p_first, p_second, reasoning) per model
            averaged = [_mean_orders(first, second) for first, second, _ in rows]
            p = self._combine(averaged)
            if self.cot:
                p = min(max(p, self.clamp[0]), self.clamp[1])
            seconds = [second for _, second, _ in rows]
            verdicts.append(
                Verdict(
                    p_a=p,
                    p_a_first=_mean([first for first, _, _ in rows]),
                    p_a_second=None if seconds[0] is None else _mean(seconds),
                    per_model=tuple(averaged),
                    reasoning=tuple(text for *_, texts in rows for text in texts),
                    per_model_orders=tuple((first, second) for first, second, _ in rows),
                )
            )
        return verdicts

    def engine_inputs(self, comparisons: int) -> int:
        """The prompts and scored options `label` sends to the engines for this many comparisons."""
        return len(self.models) * comparisons * (2 if self.both_orders else 1) * (3 if self.cot else 2)

    def label_one(self, item_id: str, conversation: Sequence[Mapping[str, str]], response_a: str, response_b: str) -> Verdict:
        return self.label([Comparison(item_id, tuple(conversation), response_a, response_b)])[0]

    # ------------------------------------------------------------ internals
    def _orders(self, comparison: Comparison) -> list[tuple[str, str]]:
        pairs = [(comparison.response_a, comparison.response_b)]
        if self.both_orders:
            pairs.append((comparison.response_b, comparison.response_a))
        return pairs

    def _render(self, model: FeedbackModel, phase: str, comparison: Comparison, shown: tuple[str, str], reasoning: str | None = None):
        from cai_lang.api import render_prompt

        values = dict(conversation=list(comparison.conversation), response_a=shown[0], response_b=shown[1])
        if reasoning is not None:
            values["reasoning"] = reasoning
        return render_prompt(self.bundle, comparison.item_id, phase, model.dialect, **values)

    def _score_model(self, model: FeedbackModel, comparisons: Sequence[Comparison], work: ChunkWork) -> list[tuple[float, float | None, tuple[str, ...]]]:
        shown = [(c, order) for c in comparisons for order in self._orders(c)]
        reasonings: list[str | None] = [None] * len(shown)
        phase = "compare"
        if self.cot:
            cot_prompts = [self._render(model, "compare_cot", c, order) for c, order in shown]
            with work.call(len(cot_prompts)):
                reasonings = [clean_reasoning(t) for t in model.backend.generate(cot_prompts, self.cot_params)]
            phase = "compare_cot_answer"
        option_a, option_b = model.option_texts
        prompts, continuations = [], []
        for (c, order), reasoning in zip(shown, reasonings):
            prompt = self._render(model, phase, c, order, reasoning)
            prompts += [prompt, prompt]
            continuations += [option_a, option_b]
        with work.call(len(prompts)):
            logprobs = model.backend.continuation_logprobs(prompts, continuations)
        bad = next((k for k, value in enumerate(logprobs) if not (isinstance(value, (int, float)) and math.isfinite(value))), None)
        if bad is not None:  # never a NaN label, whatever the backend: a clear stop naming the comparison
            comparison = shown[bad // 2][0]
            raise EngineError(f"the feedback model gave the log-probability {logprobs[bad]!r} for option {continuations[bad]!r} "
                              f"of the comparison by `{comparison.item_id}`; no label was written from it")
        # P(first-shown response wins) per shown order, in `shown` order.
        p_shown_first = [option_probability(logprobs[2 * k], logprobs[2 * k + 1]) for k in range(len(shown))]
        per_order = 2 if self.both_orders else 1
        results = []
        for i in range(len(comparisons)):
            first = p_shown_first[i * per_order]
            # In the swapped order the original A is option (B): it wins when (A) loses.
            second = 1.0 - p_shown_first[i * per_order + 1] if self.both_orders else None
            texts = tuple(r for r in reasonings[i * per_order : (i + 1) * per_order] if r is not None)
            results.append((first, second, texts))
        return results

    def _combine(self, probabilities: list[float]) -> float:
        if self.ensemble == "mean":
            return _mean(probabilities)
        votes = [1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5 for p in probabilities]
        return _mean(votes)


def _mean_orders(first: float, second: float | None) -> float:
    return first if second is None else (first + second) / 2.0


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
