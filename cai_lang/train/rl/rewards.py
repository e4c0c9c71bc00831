"""Rewards under the constitution: one response, or a group of responses to one prompt, judged by the labeller.

This is the one place where a scalar reward comes from comparisons. It asks
the same `label_pairs` (priorities, conflicts, regex rules) the preference
labels of `caic train` come from, so a reward here is made of the very
labels the labeller writes for the same pairs:

- a group of two or more responses (GRPO and RLOO sample such groups): every
  pairing is labelled once; a response's reward is its mean P(better) over
  the others of its group (in [0, 1]; only differences within the group
  matter to a group-relative method);
- a group of one with a `reference` answer: the reward is P(response better
  than the reference);
- a group of one without a reference cannot be judged by comparison, and is
  reported as failed, as is any judgement the engine could not make: a
  failed judgement carries `reward=None` and its error, never a made-up 0.

`judge_groups` judges many prompts in one labeller call, so a batching
caller (the reward server, a trainer's batch) gives the feedback model one
long workload. When that call fails and it held several prompts, each is
tried again alone, so one prompt's failure is not every prompt's.
Each judgement also reports the applicable regex rules' detector results on
its response, the bundle's content hash, the items that judged it and the
feedback models. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Mapping, Sequence

from cai_lang.detector import DetectorTimeout, detector_matches
from cai_lang.train.rl.aggregate import Aggregator, label_pairs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupRequest:
    """One prompt (its conversation and context labels) and the responses to judge for it."""

    conversation: tuple[Mapping[str, str], ...]
    responses: tuple[str, ...]
    context: Mapping[str, Any] = field(default_factory=dict)
    reference: str | None = None

    def key(self) -> str:
        """A stable name for the prompt: pair ids (and so sample-mode draws) depend on it and the indices only."""
        text = json.dumps([list(map(dict, self.conversation)), dict(self.context)], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Judgement:
    """The constitution's verdict on one response: its reward, or why there is none."""

    reward: float | None
    error: str | None
    method: str  # "group", "reference" or "none"
    items: Mapping[str, float]  # per item: mean P(this response better) over the comparisons it judged
    detectors: Mapping[str, bool | None]  # per applicable regex rule: does the response match (violate) it; None: timed out
    comparisons: int
    content_hash: str
    feedback_models: tuple[str, ...]
    labels: tuple[dict, ...] = ()  # the aggregated labels this reward was made of, oriented as labelled

    @property
    def ok(self) -> bool:
        return self.reward is not None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Judgement":
        """A judgement read back from `to_dict` (a reward server's answer); anything but `status: ok` is failed."""
        ok = data.get("status") == "ok" and data.get("reward") is not None
        return cls(reward=float(data["reward"]) if ok else None, error=None if ok else str(data.get("error") or "failed"),
                   method=str(data.get("method", "none")), items=dict(data.get("items") or {}), detectors=dict(data.get("detectors") or {}),
                   comparisons=int(data.get("comparisons") or 0), content_hash=str(data.get("content_hash", "")),
                   feedback_models=tuple(data.get("feedback_models") or ()))

    def to_dict(self, *, with_labels: bool = False) -> dict:
        out = {
            "reward": self.reward,
            "status": "ok" if self.ok else "failed",
            "error": self.error,
            "method": self.method,
            "items": dict(self.items),
            "principles": sorted(self.items),
            "detectors": dict(self.detectors),
            "comparisons": self.comparisons,
            "content_hash": self.content_hash,
            "feedback_models": list(self.feedback_models),
        }
        if with_labels:
            out["labels"] = [dict(label) for label in self.labels]
        return out


def feedback_model_ids(labeller) -> tuple[str, ...]:
    return tuple(str(getattr(getattr(m, "backend", m), "model_id", "?")) for m in getattr(labeller, "models", ()))


def judge_groups(requests: Sequence[GroupRequest], labeller, aggregator: Aggregator) -> list[list[Judgement]]:
    """One list of judgements per request, one judgement per response, in order."""
    try:
        return _judge(requests, labeller, aggregator)
    except Exception as err:  # noqa: BLE001 - an engine or labelling failure becomes a failed judgement, per request
        if len(requests) > 1:
            return [judge_groups([request], labeller, aggregator)[0] for request in requests]
        logger.warning("a judgement failed: %s", err)
        return [[_failed(requests[0], labeller, aggregator, f"{type(err).__name__}: {err}") for _ in requests[0].responses]]


def _judge(requests: Sequence[GroupRequest], labeller, aggregator: Aggregator) -> list[list[Judgement]]:
    pairs: list[dict] = []
    owners: list[tuple[int, int, int | None]] = []  # (request, left, right or None for the reference)
    for r, request in enumerate(requests):
        key = request.key()
        common = {"conversation": [dict(turn) for turn in request.conversation], "context": dict(request.context)}
        if len(request.responses) >= 2:
            for left, right in combinations(range(len(request.responses)), 2):
                pairs.append({"id": f"{key}\x00{left}\x00{right}", "response_a": request.responses[left],
                              "response_b": request.responses[right], **common})
                owners.append((r, left, right))
        elif len(request.responses) == 1 and request.reference is not None:
            pairs.append({"id": f"{key}\x000\x00reference", "response_a": request.responses[0],
                          "response_b": request.reference, **common})
            owners.append((r, 0, None))
    labels = label_pairs(pairs, labeller, aggregator) if pairs else []
    # Per response: P(better) per comparison, per item, and the labels it took part in.
    wins: list[list[list[float]]] = [[[] for _ in req.responses] for req in requests]
    items: list[list[dict[str, list[float]]]] = [[{} for _ in req.responses] for req in requests]
    used: list[list[list[dict]]] = [[[] for _ in req.responses] for req in requests]
    for (r, left, right), label in zip(owners, labels):
        if not math.isfinite(label.p_a):
            raise ValueError(f"the labeller returned a non-finite label ({label.p_a}) for pair {label.pair_id!r}")
        sides = [(left, label.p_a, False)] + ([] if right is None else [(right, 1.0 - label.p_a, True)])
        for index, p, flipped in sides:
            wins[r][index].append(p)
            used[r][index].append(label.to_dict())
            for item_id, q in label.items.items():
                items[r][index].setdefault(item_id, []).append(1.0 - q if flipped else q)
    models = feedback_model_ids(labeller)
    out = []
    for r, request in enumerate(requests):
        group = []
        for i, response in enumerate(request.responses):
            detectors = rule_detectors(aggregator, request.context, response)
            if not wins[r][i]:
                group.append(_failed(request, labeller, aggregator, "a single response needs a reference answer to be "
                                     "compared with (send `reference`), or a group of two or more responses", detectors))
                continue
            group.append(Judgement(
                reward=sum(wins[r][i]) / len(wins[r][i]),
                error=None,
                method="group" if len(request.responses) >= 2 else "reference",
                items={k: sum(v) / len(v) for k, v in items[r][i].items()},
                detectors=detectors,
                comparisons=len(wins[r][i]),
                content_hash=aggregator.bundle.content_hash,
                feedback_models=models,
                labels=tuple(used[r][i]),
            ))
        out.append(group)
    return out


def preference_rewards(requests: Sequence[GroupRequest], scorer, aggregator: Aggregator, model_id: str) -> list[list[Judgement]]:
    """Scalar rewards from a trained preference model: its score of each conversation plus response.

    `scorer(conversations) -> list[float]` is the preference model's scoring
    (`preference.reward_scores` on a loaded model). Each response is scored on
    its own (no group, no reference needed); the reward is the model's raw
    score, whose scale only differences within a group give meaning to.
    """
    conversations = [[*map(dict, r.conversation), {"role": "assistant", "content": response}] for r in requests for response in r.responses]
    error = None
    try:
        scores = scorer(conversations) if conversations else []
        bad = [s for s in scores if not math.isfinite(s)]
        if bad:
            raise ValueError(f"the preference model returned a non-finite score ({bad[0]})")
    except Exception as err:  # noqa: BLE001 - reported per response as a failed judgement
        logger.warning("preference-model scoring failed: %s", err)
        scores = [None] * len(conversations)
        error = f"{type(err).__name__}: {err}"
    out, at = [], 0
    for request in requests:
        group = []
        for response in request.responses:
            score = scores[at]
            at += 1
            group.append(Judgement(reward=score, error=None if score is not None else error, method="preference-model" if score is not None else "none",
                                   items={}, detectors=rule_detectors(aggregator, request.context, response), comparisons=0,
                                   content_hash=aggregator.bundle.content_hash, feedback_models=(model_id,)))
        out.append(group)
    return out


def rule_detectors(aggregator: Aggregator, context: Mapping[str, Any], response: str) -> dict[str, bool | None]:
    """Whether each regex rule that applies to this prompt finds a violation in `response` (None: it ran out of time)."""
    from cai_lang.train.run.context_labels import clean_labels

    labels, _ = clean_labels(aggregator.bundle, context)
    found: dict[str, bool | None] = {}
    for entry in aggregator.judges(labels):
        pattern = getattr(entry, "detect", None)
        if pattern is None:
            continue
        try:
            found[entry.id] = detector_matches(pattern, response)
        except DetectorTimeout:
            found[entry.id] = None
    return found


def _failed(request: GroupRequest, labeller, aggregator: Aggregator, error: str, detectors=None) -> Judgement:
    return Judgement(reward=None, error=error, method="none", items={}, detectors=detectors or {}, comparisons=0,
                     content_hash=aggregator.bundle.content_hash, feedback_models=feedback_model_ids(labeller))


class JudgementFailed(RuntimeError):
    """A reward function set to raise met a failed judgement."""


def trl_reward_function(labeller, aggregator: Aggregator, *, on_failure: str = "none"):
    """A trl `reward_funcs` callable: `(prompts, completions, **columns) -> list[float | None]`.

    Completions of one prompt (trl repeats the prompt per generation) form a
    group and are judged with `judge_groups`. Dataset columns trl passes on
    are read when present: `conversation` and `context` (JSON text or
    objects, as `caic`'s prompt rows hold them) and `reference` (an answer to
    compare a lone completion with). A failed judgement gives None, which
    trl documents as "no reward from this function for this sample", or,
    with `on_failure="raise"`, stops the run with the error.
    """
    return reward_callable(lambda requests: judge_groups(requests, labeller, aggregator), on_failure=on_failure)


def reward_callable(score_many, *, on_failure: str = "none", name: str = "constitution_labeller"):
    """`trl_reward_function` over any `score_many(requests) -> judgements per request` (a `Judge`'s, say)."""
    if on_failure not in ("none", "raise"):
        raise ValueError(f"on_failure is `none` or `raise`, not {on_failure!r}")

    def reward(prompts, completions, **columns) -> list[float | None]:
        n = len(prompts)
        contexts = columns.get("context") or [None] * n
        conversations = columns.get("conversation") or [None] * n
        references = columns.get("reference") or [None] * n
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(json.dumps(prompt, sort_keys=True, default=str), []).append(i)
        members = list(groups.values())
        requests = [
            GroupRequest(
                conversation=tuple(loaded_column(conversations[m[0]]) or prompt_turns(prompts[m[0]])),
                responses=tuple(completion_text(completions[i]) for i in m),
                context=loaded_column(contexts[m[0]]) or {},
                reference=references[m[0]],
            )
            for m in members
        ]
        rewards: list[float | None] = [None] * n
        failures = []
        for m, judgements in zip(members, score_many(requests)):
            for i, judgement in zip(m, judgements):
                rewards[i] = judgement.reward
                if not judgement.ok:
                    failures.append(judgement.error)
        if failures:
            if on_failure == "raise":
                raise JudgementFailed(f"{len(failures)} of {n} completions could not be judged: {failures[0]}")
            logger.warning("%d of %d completions could not be judged (reward None): %s", len(failures), n, failures[0])
        return rewards

    reward.__name__ = name
    return reward


def loaded_column(value: Any) -> Any:
    """A dataset column's value: JSON text (as caic's prompt rows hold objects) decoded, anything else as is."""
    return json.loads(value) if isinstance(value, str) else value


def prompt_turns(prompt: Any) -> list[dict[str, str]]:
    """A trl prompt (text, or a list of messages) as conversation turns."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def completion_text(completion: Any) -> str:
    """A trl completion (text, or assistant messages) as the response text, any thinking block removed."""
    from cai_lang.train.thinking import strip_thinking

    if isinstance(completion, str):
        return strip_thinking(completion)
    return strip_thinking("".join(m["content"] for m in completion if m.get("role", "assistant") == "assistant"))
