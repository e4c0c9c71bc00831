"""trl `reward_funcs` callables on the judge: in process, or through a caic reward server.

`local_reward_function(judge)` is the callable `caic train --reward
labeller` uses (`rl.rewards.reward_callable`), over the judge's `score_many`. `remote_reward_function(url)` sends each prompt's group of
completions to a server's `POST /judge` in parallel, so concurrent groups
are batched there, and gives trl None for a failed judgement (trl's "no
reward for this sample"), or raises with `on_failure="raise"`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cai_lang.judge.verl_reward import RewardServerError, post_json
from cai_lang.train.rl.rewards import GroupRequest, Judgement, reward_callable


def local_reward_function(judge, *, on_failure: str = "none"):
    """trl's reward callable over an in-process `Judge` (comparisons, or its preference model)."""
    return reward_callable(judge.score_many, on_failure=on_failure)


def remote_reward_function(url: str, *, on_failure: str = "none", timeout: float = 300.0, concurrency: int = 8):
    """trl's reward callable over a caic reward server at `url`: each prompt's group is one `POST /judge`."""
    endpoint = url.rstrip("/") + "/judge"

    def ask(request: GroupRequest) -> list[Judgement]:
        body = {"prompt": [dict(turn) for turn in request.conversation], "responses": list(request.responses),
                "context": dict(request.context), "reference": request.reference}
        try:
            return [Judgement.from_dict(j) for j in post_json(endpoint, body, timeout)["judgements"]]
        except (OSError, RewardServerError, KeyError, TypeError, ValueError) as err:
            return [Judgement(reward=None, error=f"{endpoint}: {err}", method="none", items={}, detectors={}, comparisons=0,
                              content_hash="", feedback_models=()) for _ in request.responses]

    def score_many(requests: list[GroupRequest]) -> list[list[Judgement]]:
        # In parallel, so the server's batcher gathers the groups into one labeller call.
        with ThreadPoolExecutor(max(1, min(concurrency, len(requests)))) as pool:
            return list(pool.map(ask, requests))

    return reward_callable(score_many, on_failure=on_failure, name="constitution_server")
