"""Several servers of one model as one backend: requests spread over them, and retried on another when one fails.

The HF recipe generates over many inference servers at once; caic does the
same with `PooledBackend`, a thin wrapper over ordinary backends (usually
`HTTPBackend`s, one per URL, each with its own retries). A call is cut into
contiguous slices, one per healthy member, run in parallel, and put back in
order, so results are exactly those of one server given the same prompts
(up to the servers' own sampling). A slice whose member fails (after that
member's own retries) goes to the next healthy member; a member that failed
is tried last from then on. Only when every member has failed a slice does
the call fail, with each member's error. A spec names a pool as
comma-separated URLs that serve the same model: `http://a:8000/v1,http://b:8000/v1#NAME`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Sequence

from cai_lang.engine.base import (
    EngineError,
    GenerationBackend,
    Prompt,
    SamplingParams,
    UnsupportedScoringError,
    per_request,
)


class PoolError(EngineError):
    """Every server of the pool failed the same slice of work."""


def pool_urls(url: str) -> list[str]:
    """The URLs of a pool spec's address part (one URL is a pool of one)."""
    urls = [part.strip() for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError(f"no server URL in {url!r}")
    return urls


class PooledBackend(GenerationBackend):
    """One backend over `members`, which must serve the same model."""

    def __init__(self, members: Sequence[GenerationBackend], *, model_id: str | None = None):
        if not members:
            raise ValueError("a pool needs at least one backend")
        self.members = list(members)
        self.model_id = model_id or getattr(self.members[0], "model_id", "pool")
        self._failures = [0] * len(self.members)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=len(self.members), thread_name_prefix="caic-pool")
        self.served = [0] * len(self.members)  # items each member answered, for tests and logs

    @classmethod
    def from_urls(cls, urls: Sequence[str], **options) -> "PooledBackend":
        from cai_lang.engine.http import HTTPBackend

        members = [HTTPBackend(url, **options) for url in urls]
        return cls(members, model_id=members[0].model_id)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[str]:
        items = list(prompts)
        # Seeds are fixed per prompt before the call is split, so a prompt's seed does not depend on which server gets it.
        params = per_request(params or SamplingParams(), len(items))

        def call(member, lo, hi):
            part = params if params.request_seeds is None else replace(params, request_seeds=params.request_seeds[lo:hi])
            return member.generate(items[lo:hi], part)

        return self._spread(len(items), call)

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[float]:
        prompts, continuations = list(prompts), list(continuations)
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        return self._spread(len(prompts), lambda member, lo, hi: member.continuation_logprobs(prompts[lo:hi], continuations[lo:hi]))

    @property
    def scoring_routes(self) -> set[str]:
        """How the members scored options (see `HTTPBackend.scoring_routes`)."""
        return set().union(*(getattr(m, "scoring_routes", set()) for m in self.members))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for member in self.members:
            member.close()

    # -- spreading ------------------------------------------------------------

    def _order(self) -> list[int]:
        with self._lock:
            return sorted(range(len(self.members)), key=lambda i: (self._failures[i], i))

    def _spread(self, n: int, call: Callable[[GenerationBackend, int, int], list]) -> list:
        if n == 0:
            return []
        order = self._order()
        healthy = [i for i in order if self._failures[i] == 0] or order
        slices = min(len(healthy), n)
        bounds = [(n * k // slices, n * (k + 1) // slices) for k in range(slices)]
        futures = [self._executor.submit(self._run_slice, call, lo, hi, healthy[k]) for k, (lo, hi) in enumerate(bounds)]
        out: list = []
        for future in futures:
            out.extend(future.result())
        return out

    def _run_slice(self, call, lo: int, hi: int, first: int) -> list:
        tried: list[str] = []
        candidates = [first] + [i for i in self._order() if i != first]
        for index in candidates:
            member = self.members[index]
            try:
                result = call(member, lo, hi)
            except UnsupportedScoringError:
                raise  # the model cannot do it on any member: another server would refuse the same way
            except EngineError as err:
                with self._lock:
                    self._failures[index] += 1
                tried.append(f"{getattr(member, 'base_url', index)}: {err}")
                continue
            if len(result) != hi - lo:
                raise PoolError(f"a server returned {len(result)} results for {hi - lo} requests")
            with self._lock:
                self.served[index] += hi - lo
            return list(result)
        raise PoolError("every server of the pool failed: " + "; ".join(tried))
