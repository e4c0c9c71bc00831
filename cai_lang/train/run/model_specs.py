"""Model specs: what `--model`, `--critic-model`, `--feedback-model` and `--preference-base` may name.

A spec is a folder written by `save_pretrained`, a Hub id, or the URL of an
OpenAI-compatible server with the name of the model it serves
(`--served-model NAME`, or `URL#NAME` in the spec itself; several servers
of the same model as `URL1,URL2#NAME`) and, optionally,
the environment variable that holds its API key. This module checks a spec
before anything slow starts (`check_model`: a folder must hold
`config.json`, a Hub id must be cached when the Hub is off, a server needs
its model's name and cannot be trained), says how a run records it
(`model_identity`: never the key), and opens it (`open_backend`). Nothing
here imports torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cai_lang.errors import CaicError


class PipelineError(CaicError, RuntimeError):
    """A step that cannot go ahead; the message says why (the CLI shows it and exits 2)."""


@dataclass(frozen=True)
class ServerSettings:
    """How to reach models behind an OpenAI-compatible server: the name it serves (`--served-model`;
    a spec `URL#NAME` names its own) and the environment variable that holds the API key, if any.
    The key itself is never written anywhere."""

    served_model: str | None = None
    api_key_env: str | None = None
    # Passed to every model's chat template, local or served (e.g. {"enable_thinking": False}); not a secret.
    chat_template_kwargs: dict | None = field(default=None, hash=False)
    # Seconds for each whole request (`--request-timeout`), and how often a
    # failed one is tried again (`--max-retries`).
    request_timeout: float = 120.0
    max_retries: int = 4
    # The served model's tokenizer (`--server-tokenizer`): with it, options are scored from prompt log-probs (engine/exact.py).
    tokenizer: str | None = None

    def api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise PipelineError(f"--api-key-env {self.api_key_env}: that environment variable is not set")
        return key


def is_server(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def server_spec(spec: str, server: ServerSettings) -> tuple[str, str]:
    """(URL, served model name) of a server spec; the name comes from `URL#NAME` or `--served-model`."""
    url, _, name = spec.partition("#")
    name = name or server.served_model
    if not name:
        raise PipelineError(
            f"{url} is a server: name the model it serves with --served-model NAME (or write {url}#NAME); "
            "GET /v1/models on the server lists them"
        )
    return url, name


def check_model(spec: str, server: ServerSettings | None = None, *, trainable: bool = False) -> None:
    """Fail at once, with the reason, when `spec` names no model that can be opened here.

    Local folders are checked for `config.json`; a Hub id must be well formed
    and, when Hub access is off (HF_HUB_OFFLINE=1), already in the cache. A
    server needs the name of the model it serves, and cannot be trained
    (`trainable`): training needs the weights here.
    """
    from cai_lang.engine import hub_id_problem

    if is_server(spec):
        if trainable:
            raise PipelineError(
                f"{spec}: training needs local weights, and a server only generates; generate with "
                "`caic generate sl|rl --model URL`, then train a local copy of the model (a folder or a Hub id)"
            )
        server_spec(spec, server or ServerSettings())
        (server or ServerSettings()).api_key()
        return
    path = Path(spec).expanduser()
    if path.exists():
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise PipelineError(f"{spec} is not a model folder (no config.json in it)")
        return
    problem = hub_id_problem(spec)
    if problem:
        raise PipelineError(f"cannot load model {spec!r}: no such folder, and not a Hub id: {problem}")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    ).lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(spec, "config.json"), str):
            raise PipelineError(
                f"cannot load model {spec!r} offline: Hub downloads are off (HF_HUB_OFFLINE=1) and it is not in the "
                "local cache; pass a model folder (e.g. one made by `caic tiny-model`)"
            )


def has_chat_template(spec: str) -> bool | None:
    """Whether a local model folder ships a chat template (read from its files, nothing loaded); None: cannot tell here."""
    folder = Path(spec)
    if is_server(spec) or not folder.is_dir():
        return None  # a server applies its own template; a Hub id is not on disk
    if (folder / "chat_template.jinja").exists() or (folder / "chat_template.json").exists():
        return True
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return bool(config.get("chat_template"))


def check_dialect(spec: str, dialect: str, role: str, flag: str) -> None:
    """Refuse, before anything runs, the chat dialect for a local model without a chat template."""
    if dialect == "chat" and has_chat_template(spec) is False:
        raise PipelineError(
            f"the {role} {spec} has no chat template, so the chat dialect cannot build its prompts; "
            f"pass {flag} text (the paper's Human:/Assistant: format, for base models)"
        )


def check_dialects(step) -> None:
    """Each model of a generation step against the dialect it is spoken to in (policy; critic or feedback models)."""
    generation = step.generation
    check_dialect(step.model, generation.dialect, "policy", "--dialect")
    if hasattr(generation, "critique_dialect"):
        dialect, role, flag = generation.critique_dialect, "critic", "--critic-dialect"
    else:
        dialect, role, flag = generation.comparison_dialect, "feedback model", "--feedback-dialect"
    for spec in step.helpers or (step.model,):
        check_dialect(spec, dialect, role, flag)


def model_identity(spec: str, server: ServerSettings | None = None) -> str:
    """How a model is recorded: a local folder by its absolute path, a Hub id as written, a server as `URL#NAME`."""
    if is_server(spec):
        url, name = server_spec(spec, server or ServerSettings())
        return f"{url}#{name}"
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def open_backend(spec: str, server: ServerSettings, *, device: str, batch_size: int):
    """The generation backend a spec names (local weights or a server)."""
    from cai_lang.engine import load_backend

    if is_server(spec):
        url, name = server_spec(spec, server)
        urls = url.split(",")
        if len(urls) > 1:
            # Several servers of one model (`URL1,URL2#NAME`): requests spread and retried across them.
            from cai_lang.engine.pool import PooledBackend, pool_urls

            return PooledBackend.from_urls(pool_urls(url), model=name, api_key=server.api_key(), timeout=server.request_timeout,
                                           max_retries=server.max_retries, chat_template_kwargs=server.chat_template_kwargs,
                                           tokenizer=server.tokenizer)
        return load_backend(url, model=name, api_key=server.api_key(), timeout=server.request_timeout,
                            max_retries=server.max_retries, chat_template_kwargs=server.chat_template_kwargs, tokenizer=server.tokenizer)
    return load_backend(spec, device=device, batch_size=batch_size, chat_template_kwargs=server.chat_template_kwargs)
