"""Exact continuation log-probabilities over a server: the local backend's tokens, the server's prompt log-probs.

A chat endpoint reveals only the top alternatives of the tokens it
generates, so `HTTPBackend` reads an option's probability from them (an
approximation). vLLM's completions endpoint does better: it takes a prompt
as token ids and, with `echo` and `logprobs`, returns the log-probability
of every prompt token. Given the served model's tokenizer, `ExactScoring`
renders and tokenises each prompt plus option exactly as the local backend
does (`tokens.PromptEncoder.split`: the same chat template, defusing and
shared-prefix rule), sends the token ids, and sums the log-probabilities
of the option's tokens: the same sum the local backend computes, up to the
server's arithmetic. Options scored after one context go in one request.

`route` says what happened: `prompt-logprobs` once the server answered
such a request; `refused` when it would not (4xx), after which the backend
falls back to its usual routes for good and says so.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from cai_lang.engine.base import BackendHTTPError, Prompt, UnsupportedScoringError

ROUTE = "prompt-logprobs"


class ExactScoring:
    """Scores through a server's prompt log-probabilities, tokenising here with the served model's tokenizer."""

    def __init__(self, tokenizer: str | Any, template_kwargs: dict[str, Any] | None = None):
        from cai_lang.engine.tokens import PromptEncoder

        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self.encoder = PromptEncoder(tokenizer, template_kwargs)
        self.refused: str | None = None  # why the server would not, once it would not

    def score(self, backend, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[float]:
        """Summed log-probabilities of each continuation after its prompt, in order.

        Raises UnsupportedScoringError when the server refuses token-id prompts
        with echo; `refused` then holds the reason.
        """
        splits = [self.encoder.split(p, c) for p, c in zip(prompts, continuations)]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, split in enumerate(splits):
            groups.setdefault(tuple(split.ids[: len(split.ids) - split.n_continuation]), []).append(i)
        scores = [0.0] * len(splits)

        def run(members: list[int]) -> None:
            values = self._request(backend, [splits[i].ids for i in members])
            for i, logprobs in zip(members, values):
                n = splits[i].n_continuation
                tail = logprobs[len(logprobs) - n :] if n else []
                if any(v is None or not math.isfinite(v) for v in tail):
                    raise BackendHTTPError(f"the server returned no finite log-probability for the option {continuations[i]!r}")
                scores[i] = float(sum(tail))

        backend._map(run, list(groups.values()), size=len)
        return scores

    def _request(self, backend, sequences: list[list[int]]) -> list[list[float | None]]:
        body = {"model": backend.model_id, "prompt": sequences, "max_tokens": 0, "echo": True, "logprobs": 1, "temperature": 0.0}
        what = f"POST {backend.base_url}/completions (prompt log-probabilities of {len(sequences)} token sequences)"
        try:
            reply = backend.post("/completions", body, what)
        except BackendHTTPError as err:
            if err.status is not None and 400 <= err.status < 500:
                self.refused = f"{backend.base_url} refused token-id prompts with echo and logprobs: {err}"
                raise UnsupportedScoringError(self.refused) from err
            raise
        choices = reply.get("choices")
        if not isinstance(choices, list) or len(choices) != len(sequences):
            raise BackendHTTPError(f"{what}: expected {len(sequences)} choices, got {json.dumps(choices)[:200]}")
        out = []
        for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            values = ((choice or {}).get("logprobs") or {}).get("token_logprobs")
            if not isinstance(values, list):
                raise UnsupportedScoringError(f"{what}: the reply holds no prompt token log-probabilities (token_logprobs)")
            out.append(values)
        for values, ids in zip(out, sequences):
            # vLLM echoes exactly the prompt tokens (max_tokens=0); anything else is not a reply to this question.
            if len(values) != len(ids):
                raise BackendHTTPError(f"{what}: {len(values)} log-probabilities for {len(ids)} prompt tokens")
        return out
