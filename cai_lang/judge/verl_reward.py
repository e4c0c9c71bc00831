"""A verl custom reward function that asks a caic reward server: point verl's loader at this file.

verl loads `reward.custom_reward_function.path` (this file) and calls
`compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)`
once per response. Set `reward.custom_reward_function.name=compute_score` and the
server's address as `reward_kwargs.url` (or the `CAIC_REWARD_URL`
environment variable). The prompt comes from `extra_info["caic"]` (the
conversation and context labels `caic export-data --engine verl` writes there); the
response is compared with `ground_truth`, the reference answer, since verl
scores one response at a time. A failed judgement raises, so verl never
trains on a reward nobody computed. Standard library only: verl's workers
need no caic installed to load it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

DEFAULT_TIMEOUT = 300.0


class RewardServerError(RuntimeError):
    """The reward server could not judge this response; the message says why."""


def compute_score(data_source: str, solution_str: str, ground_truth: Any = None, extra_info: dict | None = None,
                  url: str | None = None, timeout: float = DEFAULT_TIMEOUT, **_: Any) -> float:
    """The constitution's reward for `solution_str`: P(it is better than `ground_truth`) under the bundle."""
    address = url or os.environ.get("CAIC_REWARD_URL")
    if not address:
        raise RewardServerError("no reward server: pass reward_kwargs.url or set CAIC_REWARD_URL")
    meta = (extra_info or {}).get("caic") or {}
    if isinstance(meta, str):
        meta = json.loads(meta)
    body = {
        "prompt": meta.get("conversation") or (extra_info or {}).get("prompt") or data_source,
        "responses": [solution_str],
        "context": meta.get("context") or {},
        "reference": meta.get("reference") if ground_truth in (None, "") else _reference(ground_truth),
    }
    reply = post_json(address.rstrip("/") + "/judge", body, timeout)
    judgement = reply["judgements"][0]
    if judgement.get("status") != "ok":
        raise RewardServerError(f"the reward server could not judge the response: {judgement.get('error')}")
    return float(judgement["reward"])


def _reference(ground_truth: Any) -> str:
    return ground_truth if isinstance(ground_truth, str) else json.dumps(ground_truth)


def post_json(url: str, body: dict, timeout: float) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")[:500]
        raise RewardServerError(f"{url} answered {err.code}: {detail}") from None
