"""Generation engine: one interface over local transformers models and servers.

This package owns turning "a model" (a Hub id, a local folder, or the URL of
an OpenAI-compatible server) into a `GenerationBackend` that completes
prompts and scores continuations. `load_backend` is the one entry point that
picks the backend and fails fast, with a message saying why, when the spec
names nothing it could load. Importing this package is cheap: torch and
transformers load only when a local backend or the tiny-model builder is
first used, so `caic check` never pays for them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cai_lang.engine.base import (
    BackendHTTPError,
    BackendNotFoundError,
    EngineError,
    GenerationBackend,
    Message,
    Prompt,
    SamplingParams,
    UnsupportedScoringError,
)

if TYPE_CHECKING:
    from cai_lang.engine.http import HTTPBackend
    from cai_lang.engine.local import LocalBackend
    from cai_lang.engine.tiny import build_tiny_model

__all__ = [
    "BackendHTTPError",
    "BackendNotFoundError",
    "EngineError",
    "GenerationBackend",
    "HTTPBackend",
    "LocalBackend",
    "Message",
    "Prompt",
    "SamplingParams",
    "UnsupportedScoringError",
    "build_tiny_model",
    "hub_id_problem",
    "load_backend",
]

_LAZY = {
    "HTTPBackend": "cai_lang.engine.http",
    "LocalBackend": "cai_lang.engine.local",
    "build_tiny_model": "cai_lang.engine.tiny",
}

# Hub ids are `name` or `owner/name`: letters, digits, '-', '_', '.', no
# leading punctuation, no '--' or '..', at most 96 characters per part.
_HUB_PART = re.compile(r"^(?!.*(--|\.\.))[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_FILE_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".json", ".ckpt", ".onnx")
_TRUE = {"1", "true", "yes", "on"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_backend(spec: str | os.PathLike[str], **options: Any) -> GenerationBackend:
    """Open the model that `spec` names.

    - `http://...` / `https://...`: an OpenAI-compatible server
      (`HTTPBackend`; pass `model=` and optionally `api_key=`, `timeout=`,
      `max_retries=`, `concurrency=`).
    - an existing folder: a transformers model saved with `save_pretrained`
      (`LocalBackend`; options `device=`, `dtype=`, `batch_size=`).
    - otherwise a Hub id such as `Qwen/Qwen2.5-0.5B-Instruct`, loaded (or
      downloaded) by transformers.

    Anything else raises `BackendNotFoundError` at once: a mistyped path
    would otherwise be tried as a Hub id, which offline means ~47 s of
    retries before transformers gives up.
    """
    text = os.fspath(spec)
    if text.startswith(("http://", "https://")):
        from cai_lang.engine.http import HTTPBackend

        return HTTPBackend(text, **options)
    if not text.strip():
        raise BackendNotFoundError("no model given: the spec is empty, so it is not a Hub id either")
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BackendNotFoundError(f"{text} is a file; a local model is the folder save_pretrained wrote")
        if not (path / "config.json").is_file():
            raise BackendNotFoundError(
                f"{text} is a folder but holds no config.json, so it is not a transformers model folder"
            )
        from cai_lang.engine.local import LocalBackend

        return LocalBackend(str(path), **options)
    problem = hub_id_problem(text)
    if problem:
        raise BackendNotFoundError(f"no model folder at {text!r}, and it is not a Hub id either: {problem}")
    _check_offline_cache(text)
    from cai_lang.engine.local import LocalBackend

    return LocalBackend(text, **options)


def hub_id_problem(spec: str) -> str | None:
    """Why `spec` cannot be a Hub model id, or None if it could be one."""
    if not spec:
        return "it is empty"
    if spec.startswith((".", "/", "~")) or "\\" in spec:
        return "it looks like a path, and that path does not exist"
    parts = spec.split("/")
    if len(parts) > 2:
        return "it looks like a path (a Hub id has at most one '/'), and that path does not exist"
    if spec.lower().endswith(_FILE_SUFFIXES):
        return "it names a file; pass the folder that holds config.json"
    bad = [part for part in parts if not _HUB_PART.match(part)]
    if bad:
        return f"{bad[0]!r} has characters a Hub id cannot have"
    if len(parts) == 2 and Path(parts[0]).expanduser().is_dir():
        return f"the folder {parts[0]}/ exists but holds no {parts[1]!r}"
    return None


def _check_offline_cache(repo_id: str) -> None:
    """Offline, a Hub id is only usable if it is already in the local cache."""
    offline = any(os.environ.get(var, "").lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if not offline:
        return
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return
    raise BackendNotFoundError(
        f"no model folder at {repo_id!r}, and Hub downloads are off (HF_HUB_OFFLINE=1) with no cached "
        f"copy of {repo_id!r}; check the path, or download the model where the Hub is reachable"
    )
