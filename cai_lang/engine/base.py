"""The generation interface every backend implements, and nothing heavy.

It owns the vocabulary the rest of caic speaks when it asks a model for text:
a `Prompt` (raw text for base models, or a list of chat messages rendered with
the model's own chat template), `SamplingParams`, the abstract
`GenerationBackend` with its two primitives (`generate` and
`continuation_logprobs`) and the row-keyed `generate_rows` that lets a backend
reuse a transcript's cache, the engine's error types, and the small pure
helpers both backends share (stop-string truncation, prompt validation, the
prefix-sharing order of requests). It imports
only the standard library so that `import cai_lang.engine` stays cheap.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Hashable, Mapping, Sequence, Union

Message = Mapping[str, str]
# A str is the text dialect (sent as is, for base models); a list of
# {"role", "content"} messages is the chat dialect (rendered with the model's
# chat template plus the generation prompt).
Prompt = Union[str, Sequence[Message]]
from cai_lang.errors import CaicError


class EngineError(CaicError, RuntimeError):
    """A backend could not do what was asked; the message says why."""


class BackendNotFoundError(EngineError):
    """`load_backend` was given something that names no model it can reach."""


class BackendHTTPError(EngineError):
    """An HTTP backend's server refused or failed a request (after retries)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class UnsupportedScoringError(EngineError):
    """The backend cannot compute the requested log-probability exactly."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample a completion; the same meaning on every backend."""

    max_new_tokens: int = field(
        default=128, metadata={"help": "Most tokens to generate per prompt, stop strings and EOS aside."}
    )
    temperature: float = field(
        default=1.0, metadata={"help": "Softmax temperature; 0 means greedy decoding (like do_sample=False)."}
    )
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass; 1.0 disables it."})
    top_k: int = field(default=0, metadata={"help": "Sample only from the k likeliest tokens; 0 disables it."})
    do_sample: bool = field(default=True, metadata={"help": "Sample; False decodes greedily (argmax)."})
    stop: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Strings that end a completion; the first one found and all after it are removed."},
    )
    seed: int | None = field(
        default=None,
        metadata={"help": "Makes sampling reproducible (same prompts, params and batch size); None: unseeded."},
    )
    # One seed per prompt of a call, for backends that send each prompt as its own request (a server):
    # set by `per_request`, never by the user; a server given one shared seed samples every prompt alike.
    request_seeds: tuple[int, ...] | None = field(default=None, repr=False, metadata={"help": "One seed per prompt of a call (set by `per_request`, not an option)."})

    def __post_init__(self) -> None:
        if self.request_seeds is not None:
            object.__setattr__(self, "request_seeds", tuple(self.request_seeds))
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")
        if isinstance(self.stop, str):
            # A bare string would otherwise be read as a tuple of characters.
            object.__setattr__(self, "stop", (self.stop,))
        elif not isinstance(self.stop, tuple):
            object.__setattr__(self, "stop", tuple(self.stop))  # keep the params hashable
        if any(not s for s in self.stop):
            raise ValueError("stop strings must be non-empty")

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature == 0


class GenerationBackend(abc.ABC):
    """A model that completes prompts and scores continuations.

    Implementations: `LocalBackend` (transformers, in process) and
    `HTTPBackend` (an OpenAI-compatible server such as vLLM, TGI or
    llama.cpp). Both return results in the order of their inputs.
    """

    model_id: str
    # Set by a pipeline for its progress display: called with how many inputs
    # each internal batch (local) or request (HTTP) of a call finished, on the
    # caller's thread; others leave progress to whole calls. It changes no result.
    on_batch: Callable[[int], None] | None = None

    def batch_done(self, n: int) -> None:
        """Tell `on_batch`, if set, that `n` more inputs of the current call are done."""
        if self.on_batch is not None:
            self.on_batch(n)

    @abc.abstractmethod
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[str]:
        """Complete each prompt; return only the completions.

        A completion stops at EOS, at `params.max_new_tokens`, or at the first
        of `params.stop`; the stop string and everything after it are removed.
        """

    @abc.abstractmethod
    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[float]:
        """Summed log-probability (natural log) of `continuations[i]` after `prompts[i]`.

        A chat prompt is rendered with its generation prompt and the
        continuation is appended as raw text, so " (A)" scores the assistant
        starting its reply with " (A)". The text is tokenised as one string,
        prompt plus continuation, and only the tokens after the longest prefix
        it shares with the prompt's own tokenisation are counted: see
        docs/engine.md for why a leading space belongs in the continuation.
        Pairs are batched, so the options for one prompt cost one forward pass.
        """

    def context_window(self) -> int | None:
        """The most tokens the model attends to (prompt plus completion); None when the backend cannot tell."""
        return None

    def count_tokens(self, prompt: Prompt) -> int | None:
        """How many tokens `prompt` is once rendered as the model sees it; None when the backend cannot tell."""
        return None

    def generate_rows(
        self, prompts: Sequence[Prompt], params: SamplingParams | None = None, *, rows: Sequence[Hashable]
    ) -> list[str]:
        """`generate`, for prompts that belong to long-lived rows named by `rows` (one distinct key each).

        A backend may keep what a row's call read and wrote, and read only
        the new part of that row's next prompt when it extends the last one
        (the revision prompt extends the critique prompt plus the critique).
        The completions are those `generate` returns (greedy: the same
        tokens). Call `release_rows` when a row is done; the default keeps
        nothing and simply generates.
        """
        return self.generate(prompts, params)

    def release_rows(self, rows: Sequence[Hashable]) -> None:
        """Forget what `generate_rows` kept for `rows`; the default kept nothing."""

    def close(self) -> None:
        """Release resources (thread pools, GPU memory); the default does nothing."""

    def __enter__(self) -> "GenerationBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_seed(seed: int, key: Hashable) -> int:
    """The seed of one request: the call's seed and the request's key (a row id, or its place in the call) mixed,
    so distinct requests of one call sample independently and the same run asks the same again."""
    import random

    return random.Random(f"request:{seed}:{key}").getrandbits(31)


def per_request(params: SamplingParams, count: int, keys: Sequence[Hashable] | None = None) -> SamplingParams:
    """`params` with one seed per prompt (`request_seed` of each key; default: the prompt's place in the call),
    unless unseeded or already given; a backend that sends prompts one request each sends these."""
    if params.seed is None or params.request_seeds is not None:
        return params
    keys = list(keys) if keys is not None else list(range(count))
    if len(keys) != count:
        raise ValueError(f"{len(keys)} request keys for {count} prompts")
    from dataclasses import replace

    return replace(params, request_seeds=tuple(request_seed(params.seed, key) for key in keys))


def is_chat(prompt: Prompt) -> bool:
    """True for the chat dialect (a message list), False for raw text."""
    if isinstance(prompt, str):
        return False
    if isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        if not prompt:
            raise ValueError("a chat prompt needs at least one message")
        for message in prompt:
            if "role" not in message or "content" not in message:
                raise ValueError(f"chat messages need 'role' and 'content' keys, got {sorted(message)}")
        return True
    raise TypeError(f"a prompt is a str or a list of {{'role', 'content'}} dicts, not {type(prompt).__name__}")


def check_pairs(prompts: Sequence[Prompt], continuations: Sequence[str]) -> None:
    """Fail early on mismatched scoring inputs rather than deep in a batch."""
    if isinstance(continuations, str):
        raise TypeError("continuations must be a list of strings, one per prompt")
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
    for prompt in prompts:
        is_chat(prompt)


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; report whether one was found."""
    cut = -1
    for s in stop:
        i = text.find(s)
        if i != -1 and (cut == -1 or i < cut):
            cut = i
    if cut == -1:
        return text, False
    return text[:cut], True


def prefix_order(prompts: Sequence[Prompt]) -> list[int]:
    """Indices of `prompts` in an order that puts prompts sharing a prefix next to each other.

    Servers with automatic prefix caching (vLLM, SGLang) reuse the cache of
    a prefix they have just computed; requests sent together that share it
    hit that cache instead of reading it again. Sorting by the text (for
    chat prompts, by the messages in order) makes shared prefixes adjacent;
    the sort is stable, so equal prompts keep the caller's order.
    """

    def key(i: int) -> tuple[str, ...]:
        prompt = prompts[i]
        if isinstance(prompt, str):
            return (prompt,)
        return tuple(f"{m.get('role', '')}\x00{m.get('content', '')}" for m in prompt)

    return sorted(range(len(prompts)), key=key)
