"""Progress inside one chunk: how many engine inputs the chunk needs and how many are done.

A data step counts prompts exactly, but only as they finish, and with a
small model a whole chunk can pass before any does. `ChunkWork` is the finer
measure: the engine inputs (prompts of `generate`, pairs of
`continuation_logprobs`) the chunk still needs, as the step knows them
round by round, and those done, fed by each whole call and, on backends
that batch, by each batch (`GenerationBackend.on_batch`). It reports
`(done, total, pending)` to `on_work`, `pending` being the chunk's prompts
not yet counted, so a display can estimate a rate and an ETA between prompt
counts. It only observes: nothing generated, batched or written depends on it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

WorkCallback = Callable[[int, int, int], None]


class ChunkWork:
    """The engine work of one chunk, reported to `on_work(done, total, pending)`; a no-op when `on_work` is None."""

    def __init__(self, on_work: WorkCallback | None, pending: int, backends: Sequence[object] = ()) -> None:
        self.on_work = on_work
        self.pending = pending
        self.settled = 0  # inputs of the calls already returned
        self.done = 0
        self.total = 0
        self.backends = list({id(b): b for b in backends if b is not None}.values())

    def __enter__(self) -> "ChunkWork":
        if self.on_work is not None:
            for backend in self.backends:
                backend.on_batch = self._batch
        return self

    def __exit__(self, *exc: object) -> None:
        for backend in self.backends:
            if getattr(backend, "on_batch", None) == self._batch:
                backend.on_batch = None

    def need(self, remaining: int) -> None:
        """From here on, the chunk needs `remaining` more inputs (an upper bound where prompts may stop early)."""
        self.total = self.settled + max(remaining, 0)
        self._show()

    @contextmanager
    def call(self, n: int) -> Iterator[None]:
        """One engine call of `n` inputs: whatever its batches reported, it counts `n` once it returns."""
        self.total = max(self.total, self.settled + n)
        yield
        self.settled += n
        self.total = max(self.total, self.settled)
        self.done = self.settled
        self._show()

    def finished(self, n: int) -> None:
        """`n` of the chunk's prompts were just counted exactly."""
        self.pending = max(self.pending - n, 0)

    def _batch(self, n: int) -> None:
        self.done = min(self.done + n, self.total)
        self._show()

    def _show(self) -> None:
        if self.on_work is not None and self.total:
            self.on_work(self.done, self.total, self.pending)
