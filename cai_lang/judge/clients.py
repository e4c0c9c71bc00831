"""trl `reward_funcs` callables on the judge: in process, or through a caic reward server.

`local_reward_function(judge)` is the judge's own callable
(`rl.rewards.trl_reward_function`, the one `caic train --reward labeller`
uses). `remote_reward_function(url)` sends each prompt's group of
completions to a server's `POST /judge` in parallel, so concurrent groups
are batched there, and gives trl None for a failed judgement (trl's "no
reward for this sample"), or raises with `on_failure="raise"`.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cai_lang.judge.verl_reward import RewardServerError, post_json
from cai_lang.train.rl.rewards import JudgementFailed, completion_text, prompt_turns, reward_callable

logger = logging.getLogger(__name__)


def local_reward_function(judge, *, on_failure: str = "none"):
    """trl's reward callable over an in-process `Judge` (comparisons, or its preference model)."""
    return reward_callable(judge.score_many, on_failure=on_failure)


def remote_reward_function(url: str, *, on_failure: str = "none", timeout: float = 300.0, concurrency: int = 8):
    """trl's reward callable over a caic reward server at `url`."""
    if on_failure not in ("none", "raise"):
        raise ValueError(f"on_failure is `none` or `raise`, not {on_failure!r}")
    endpoint = url.rstrip("/") + "/judge"

    def reward(prompts, completions, **columns) -> list[float | None]:
        n = len(prompts)
        contexts = columns.get("context") or [None] * n
        conversations = columns.get("conversation") or [None] * n
        references = columns.get("reference") or [None] * n
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(json.dumps(prompt, sort_keys=True, default=str), []).append(i)
        members = list(groups.values())

        def ask(m: list[int]) -> list[dict[str, Any]]:
            body = {"prompt": _loaded(conversations[m[0]]) or prompt_turns(prompts[m[0]]),
                    "responses": [completion_text(completions[i]) for i in m],
                    "context": _loaded(contexts[m[0]]) or {}, "reference": references[m[0]]}
            try:
                return post_json(endpoint, body, timeout)["judgements"]
            except (OSError, RewardServerError, KeyError, ValueError) as err:
                return [{"status": "failed", "reward": None, "error": str(err)} for _ in m]

        with ThreadPoolExecutor(max(1, min(concurrency, len(members)))) as pool:
            answers = list(pool.map(ask, members))
        rewards: list[float | None] = [None] * n
        failures = []
        for m, judgements in zip(members, answers):
            for i, judgement in zip(m, judgements):
                if judgement.get("status") == "ok":
                    rewards[i] = float(judgement["reward"])
                else:
                    failures.append(judgement.get("error"))
        if failures:
            if on_failure == "raise":
                raise JudgementFailed(f"{len(failures)} of {n} completions could not be judged: {failures[0]}")
            logger.warning("%d of %d completions could not be judged (reward None): %s", len(failures), n, failures[0])
        return rewards

    reward.__name__ = "constitution_server"
    return reward


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
