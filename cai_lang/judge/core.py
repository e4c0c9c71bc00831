"""`Judge`: a compiled bundle, its feedback model(s) and aggregation settings, scoring responses.

It opens the feedback models and builds the labeller and aggregator with the
same function the RL data step of `caic train` uses (`rl.pipeline.build_labeller`),
and scores with `rl.rewards.judge_groups`, so its rewards are made of the
labels `caic train` would write for the same pairs and settings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from cai_lang.train.rl.rewards import GroupRequest, Judgement, feedback_model_ids, judge_groups, preference_rewards
from cai_lang.train.run.model_specs import ServerSettings, model_identity


@dataclass(frozen=True)
class JudgeOptions:
    """How the judge labels: the `caic generate rl` settings that bear on a label."""

    mode: str = "priority"
    margin: float = 0.05
    seed: int = 0
    dialect: str = "chat"
    cot: bool = False
    clamp: tuple[float, float] = (0.4, 0.6)
    ensemble: str = "mean"
    max_new_tokens: int = 128  # CoT reasoning only
    device: str = "auto"
    batch_size: int = 32
    server: ServerSettings = field(default_factory=ServerSettings)


class Judge:
    """Scores responses under one bundle. Thread-safe: calls into the engines are serialised."""

    def __init__(self, bundle, labeller, aggregator, *, opened: Sequence[Any] = (), preference=None):
        self.bundle = bundle
        self.labeller = labeller
        self.aggregator = aggregator
        # (scorer, model id) of a trained preference model; its scores replace comparisons when set.
        self.preference = preference
        self._opened = list(opened)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, bundle, models: Sequence[str], options: JudgeOptions | None = None) -> "Judge":
        """Open the feedback models named by `models` (folders, Hub ids, `URL#NAME`, pools `URL1,URL2#NAME`)."""
        from cai_lang.train.rl.generate import RLGenerationConfig
        from cai_lang.train.rl.pipeline import build_labeller
        from cai_lang.train.run.session import GenerationStep

        options = options or JudgeOptions()
        if not models:
            raise ValueError("the judge needs at least one feedback model")
        config = RLGenerationConfig(seed=options.seed, max_new_tokens=options.max_new_tokens, dialect=options.dialect,
                                    mode=options.mode, margin=options.margin, cot=options.cot, clamp=options.clamp,
                                    ensemble=options.ensemble)
        step = GenerationStep(source=Path("."), model=models[0], output=Path("."), generation=config, helpers=tuple(models),
                              batch_size=options.batch_size, device=options.device, server=options.server)
        opened: dict[str, Any] = {}
        try:
            labeller, aggregator = build_labeller(bundle, step, opened)
        except BaseException:
            for backend in opened.values():
                backend.close()
            raise
        judge = cls(bundle, labeller, aggregator, opened=list(opened.values()))
        judge.model_ids = tuple(model_identity(spec, options.server) for spec in models)
        return judge

    @classmethod
    def open_preference_model(cls, bundle, path: str | Path, options: JudgeOptions | None = None) -> "Judge":
        """A judge whose rewards are a trained preference model's scalar scores (`caic train`'s
        `DIR/preference_model`); regex rules still report their detector results."""
        from cai_lang.train.rl.aggregate import Aggregator
        from cai_lang.train.rl.preference import load_preference_model, reward_scores

        options = options or JudgeOptions()
        device = None if options.device == "auto" else options.device
        model, tokenizer = load_preference_model(path, device)
        template_kwargs = options.server.chat_template_kwargs

        def scorer(conversations):
            return reward_scores(model, tokenizer, conversations, batch_size=options.batch_size, template_kwargs=template_kwargs)

        model_id = model_identity(str(path))
        judge = cls(bundle, None, Aggregator(bundle, options.mode, margin=options.margin, seed=options.seed),
                    preference=(scorer, model_id))
        judge.model_ids = (model_id,)
        return judge

    # ------------------------------------------------------------ scoring
    def score(self, conversation: Sequence[Mapping[str, str]] | str, responses: Sequence[str], *,
              context: Mapping[str, Any] | None = None, reference: str | None = None) -> list[Judgement]:
        """Judge the responses to one prompt (a group; or one response with a `reference`)."""
        return self.score_many([request(conversation, responses, context=context, reference=reference)])[0]

    def score_many(self, requests: Sequence[GroupRequest]) -> list[list[Judgement]]:
        """Judge many prompts' groups in one labeller call."""
        with self._lock:
            if self.preference is not None:
                scorer, model_id = self.preference
                return preference_rewards(requests, scorer, self.aggregator, model_id)
            return judge_groups(requests, self.labeller, self.aggregator)

    def info(self) -> dict:
        """What every result is judged under: the bundle, its items and the feedback models."""
        return {
            "constitution": self.bundle.constitution.name,
            "content_hash": self.bundle.content_hash,
            "principles": [entry.id for entry in (*self.bundle.principles, *self.bundle.rules)],
            "feedback_models": list(getattr(self, "model_ids", None) or feedback_model_ids(self.labeller)),
            "reward": "preference-model" if self.preference is not None else "comparisons",
            "mode": self.aggregator.mode,
            "margin": self.aggregator.margin,
        }

    def close(self) -> None:
        for backend in self._opened:
            backend.close()
        self._opened = []

    def __enter__(self) -> "Judge":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request(conversation: Sequence[Mapping[str, str]] | str, responses: Sequence[str], *,
            context: Mapping[str, Any] | None = None, reference: str | None = None) -> GroupRequest:
    """A `GroupRequest` from a prompt (text, or chat turns ending with the user's)."""
    turns = [{"role": "user", "content": conversation}] if isinstance(conversation, str) else [dict(t) for t in conversation]
    return GroupRequest(tuple(turns), tuple(responses), dict(context or {}), reference)
