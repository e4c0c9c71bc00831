"""Same seed, same numbers: the switches a reproducible run needs, read from the environment.

caic already seeds what it draws (pair sampling per call, the prompt
sample, each trainer's data order and new heads through its `seed`). What a
seed cannot fix is how the numbers are computed: kernels that may pick a
non-deterministic algorithm, and a thread count that changes how sums are
split. Two environment variables, read once by the commands that run
models (`generate`, `train`, `eval`):

- `CAIC_DETERMINISTIC=1`: `torch.use_deterministic_algorithms(True,
  warn_only=True)` (an operation with no deterministic version warns rather
  than stops a long run) and `CUBLAS_WORKSPACE_CONFIG` set for GPUs;
- `CAIC_THREADS=N`: `torch.set_num_threads(N)`.

Unset, torch is not imported and nothing changes; a bad `CAIC_THREADS` is an
`EngineError` (exit 2 with one line). Python's own hash order is
`PYTHONHASHSEED`, which must be set before the interpreter starts.
"""

from __future__ import annotations

import os
from typing import Mapping

from cai_lang.engine.base import EngineError


def apply_from_env(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Apply the switches the environment asks for; return what was applied (empty when none)."""
    environ = os.environ if environ is None else environ
    deterministic = environ.get("CAIC_DETERMINISTIC", "").strip().lower() in ("1", "true", "yes", "on")
    threads = environ.get("CAIC_THREADS", "").strip()
    applied: dict[str, object] = {}
    if not deterministic and not threads:
        return applied
    import torch

    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        applied["deterministic_algorithms"] = True
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise EngineError(f"CAIC_THREADS must be a whole number of threads, at least 1, not {threads!r}")
        torch.set_num_threads(int(threads))
        applied["threads"] = int(threads)
    return applied
