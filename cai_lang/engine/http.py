"""The OpenAI-compatible HTTP backend: vLLM, TGI, llama.cpp and friends.

`HTTPBackend` speaks the subset of the OpenAI API that inference servers
share: `/v1/completions` for text prompts and `/v1/chat/completions` for chat
prompts (the server applies its own chat template). It owns the transport
(standard-library urllib, a thread pool for concurrency, timeouts, retries
with exponential backoff on connection errors, timeouts, truncated JSON, 429
and 5xx, honouring `Retry-After` in seconds or as a date, an optional bearer
key). `timeout` is a deadline for the whole request, not for each read: a
server that trickles its reply is cut off when the deadline passes. Replies
are checked for the shape the OpenAI API promises, and a wrong shape is an
error naming the request. Control-token strings in prompt text (`<|im_end|>`,
`</s>`, ...) are broken by a zero-width joiner, as the local backend does,
since the server's tokenizer would otherwise read them as turn markers) and
the two scoring routes: exact continuation
log-probabilities for text prompts through `echo` on `/v1/completions`, and
for chat prompts the probability that the reply picks each option, read from
the `top_logprobs` of its first two tokens (all a chat endpoint reveals;
"(A)" is often "(" then "A"). Optional request fields a server refuses are
detected from its answer and left out from then on (`post_capable`). See
docs/engine.md for which servers support what.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import math
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Sequence

from cai_lang.engine.base import (
    BackendHTTPError,
    GenerationBackend,
    Prompt,
    SamplingParams,
    UnsupportedScoringError,
    check_pairs,
    is_chat,
    per_request,
    prefix_order,
    truncate_at_stop,
)
from cai_lang.engine.tokens import defuse_known
from cai_lang.engine.transport import DEFAULT_MAX_REPLY_BYTES, DeadlineClock, malformed, read_reply
from cai_lang.engine.transport import logprob as checked_logprob

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
# The most alternatives OpenAI returns per position; vLLM's default cap too.
MAX_TOP_LOGPROBS = 20


def api_base(url: str) -> str:
    """`http://host:8000` and `http://host:8000/v1/` both mean `.../v1`."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


class HTTPBackend(GenerationBackend):
    """A model behind an OpenAI-compatible server."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        concurrency: int = 8,
        top_logprobs: int = MAX_TOP_LOGPROBS,
        chat_template_kwargs: dict[str, Any] | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        tokenizer: str | Any | None = None,
    ):
        if not model:
            raise ValueError(
                f"an HTTP backend needs model=NAME, the model name {url} serves (GET {api_base(url)}/models lists them)"
            )
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = api_base(url)
        self.model_id = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.top_logprobs = top_logprobs
        self.max_reply_bytes = max_reply_bytes
        # Sent with every chat request (vLLM and `transformers serve` read it), e.g. {"enable_thinking": false}.
        self.chat_extras = {"chat_template_kwargs": dict(chat_template_kwargs)} if chat_template_kwargs else {}
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        # A server on this machine is never reached through a proxy, whatever
        # http_proxy says; remote ones honour the environment as usual.
        handlers = [urllib.request.ProxyHandler({})] if host in _LOOPBACK else []
        self._clock = DeadlineClock()  # one deadline per request, headers included (engine/transport.py)
        self._opener = urllib.request.build_opener(*handlers, *self._clock.handlers())
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._jitter = random.Random()
        # Optional request fields this server refused; left out from then on.
        self.dropped_fields: set[str] = set()
        # With the served model's tokenizer, options are scored exactly from prompt log-probs (engine/exact.py).
        self.exact = None
        if tokenizer is not None:
            from cai_lang.engine.exact import ExactScoring

            self.exact = ExactScoring(tokenizer, chat_template_kwargs)
        # How options were scored, for the run record: prompt-logprobs, echo-text, chat-top-logprobs.
        self.scoring_routes: set[str] = set()

    # -- transport ----------------------------------------------------------

    def post(self, path: str, body: dict[str, Any], what: str | None = None) -> dict[str, Any]:
        """POST JSON, retrying what a retry can fix; return the reply, a JSON object.

        Errors name the request as `what` (default: the URL; see `_what`).
        """
        url = self.base_url + path
        what = what or f"POST {url}"
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            self._clock.start(self.timeout)
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with self._opener.open(request, timeout=self.timeout) as response:
                    raw = read_reply(response, self._clock, self.max_reply_bytes, what)
            except urllib.error.HTTPError as err:
                detail = _error_detail(err)
                if err.code != 429 and err.code < 500:
                    raise BackendHTTPError(f"{url} answered {err.code}: {detail}", status=err.code) from None
                last = f"HTTP {err.code}: {detail}"
                retry_after = _retry_after(err)
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                reason = getattr(err, "reason", err)
                timed_out = isinstance(reason, TimeoutError) or self._clock.expired()
                last = f"timed out after {self.timeout:g}s (the whole request, headers included)" if timed_out else str(reason)
            else:
                try:
                    reply = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    # Usually a reply cut short (a proxy, a restarting server): worth another try.
                    last = f"the reply is not complete JSON ({len(raw)} bytes: {raw[:200]!r})"
                else:
                    if not isinstance(reply, dict):
                        raise BackendHTTPError(f"{what}: the reply is {_shape(reply)}, not a JSON object")
                    return reply
            finally:
                self._clock.stop()
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, retry_after))
        raise BackendHTTPError(f"{what} failed after {self.max_retries + 1} attempts; last error: {last}")

    def _what(self, path: str, purpose: str, prompt: Prompt) -> str:
        return f"POST {self.base_url}{path} ({purpose} {_preview(prompt)})"

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        # Jitter spreads the retries of many threads that failed together.
        return min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + self._jitter.random() / 2)

    def _map(self, fn, items: Sequence[Any], size=lambda item: 1) -> list[Any]:
        """`fn` over `items` on the thread pool, in order; `batch_done(size(item))` as each result is taken."""
        if len(items) <= 1:
            results = [fn(item) for item in items]
            self.batch_done(sum(size(item) for item in items))
            return results
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="caic-http")
        results = []
        # Taken in order on the caller's thread, so progress is never reported from a worker.
        for item, result in zip(items, self._pool.map(fn, items)):
            results.append(result)
            self.batch_done(size(item))
        return results

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    # -- generation ---------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[str]:
        # One seed per request: a server sampling every prompt of a call from one seed correlates them.
        params = per_request(params or SamplingParams(), len(prompts))
        for prompt in prompts:
            is_chat(prompt)
        # Prompts that share a prefix go out together, so a server's prefix cache serves them.
        order = prefix_order(prompts)
        texts = self._map(lambda i: self._complete(prompts[i], params, i), order)
        return [text for _, text in sorted(zip(order, texts))]

    def _complete(self, prompt: Prompt, params: SamplingParams, index: int = 0) -> str:
        body: dict[str, Any] = {
            "model": self.model_id,
            "max_tokens": params.max_new_tokens,
            "temperature": 0.0 if params.greedy else params.temperature,
            "top_p": 1.0 if params.greedy else params.top_p,
        }
        if params.top_k and not params.greedy:
            body["top_k"] = params.top_k  # a vLLM/TGI extension; OpenAI has none
        if params.stop:
            body["stop"] = list(params.stop)
        if params.request_seeds is not None:
            body["seed"] = params.request_seeds[index]
        elif params.seed is not None:
            body["seed"] = params.seed
        what = self._what("/chat/completions" if is_chat(prompt) else "/completions", "prompt", prompt)
        if is_chat(prompt):
            body["messages"] = _defused_messages(prompt)
            body.update(self.chat_extras)
            reply = self.post_capable("/chat/completions", body, what)
            text = _message_text(_first_choice(reply, what), what)
        else:
            body["prompt"] = defuse_known(prompt)  # type: ignore[arg-type]
            reply = self.post_capable("/completions", body, what)
            text = _choice_text(_first_choice(reply, what), what)
        # Servers drop the stop string themselves; cutting again is harmless
        # and covers servers that leave it in.
        return truncate_at_stop(text, params.stop)[0]

    # -- scoring ------------------------------------------------------------

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[float]:
        check_pairs(prompts, continuations)
        if self.exact is not None and self.exact.refused is None and prompts:
            try:
                scores = self.exact.score(self, prompts, continuations)
            except UnsupportedScoringError:
                pass  # `exact.refused` says why; the routes below serve from now on
            else:
                self.scoring_routes.add("prompt-logprobs")
                return scores
        # One request per distinct prompt, carrying all of its options.
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            key = prompt if isinstance(prompt, str) else [dict(m) for m in prompt]
            groups.setdefault(json.dumps(key, sort_keys=True), []).append(i)
        scores = [0.0] * len(prompts)

        def score(indices: list[int]) -> None:
            prompt = prompts[indices[0]]
            options = [continuations[i] for i in indices]
            values = self._score_chat(prompt, options) if is_chat(prompt) else self._score_text(prompt, options)
            self.scoring_routes.add("chat-top-logprobs" if is_chat(prompt) else "echo-text")
            for i, value in zip(indices, values):
                scores[i] = value

        # Requests that share a prefix go out together, so a server's prefix cache serves them.
        batches = list(groups.values())
        self._map(score, [batches[k] for k in prefix_order([prompts[b[0]] for b in batches])], size=len)
        return scores

    def _score_text(self, prompt: str, options: list[str]) -> list[float]:
        what = self._what("/completions", "scoring after prompt", prompt)
        options = [defuse_known(option) for option in options]
        body = {
            "model": self.model_id,
            "prompt": [defuse_known(prompt) + option for option in options],
            "max_tokens": 0,
            "echo": True,
            "logprobs": 1,
            "temperature": 0.0,
        }
        try:
            reply = self.post("/completions", body, what)
        except BackendHTTPError as err:
            if err.status is not None and 400 <= err.status < 500:
                raise UnsupportedScoringError(
                    f"{self.base_url} refused an echo request (echo=true, logprobs=1, max_tokens=0), so it "
                    f"cannot score text continuations; vLLM supports this, llama.cpp and TGI do not. {err}"
                ) from err
            raise
        choices = sorted(_choices(reply, what), key=lambda c: c.get("index", 0) if isinstance(c.get("index", 0), int) else 0)
        if len(choices) != len(options):
            raise BackendHTTPError(f"{what}: asked to score {len(options)} texts, got {len(choices)} choices back")
        try:
            return [_sum_tail_logprobs(choice, option, what) for choice, option in zip(choices, options)]
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise malformed(what, exc) from None

    def _score_chat(self, prompt: Prompt, options: list[str]) -> list[float]:
        # Two tokens, because "(A)" usually starts with "(" alone: the letter
        # that decides is then the second token, and its alternatives are there.
        body = {
            "model": self.model_id,
            "messages": _defused_messages(prompt),
            "max_tokens": 2,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
            **self.chat_extras,
        }
        what = self._what("/chat/completions", "scoring after prompt", prompt)
        reply = self.post("/chat/completions", body, what)
        try:
            content = (_first_choice(reply, what).get("logprobs") or {}).get("content") or []
        except AttributeError as exc:
            raise malformed(what, exc) from None
        if not content:
            raise UnsupportedScoringError(
                f"{self.base_url} returned no log-probabilities for a chat completion (logprobs=true, top_logprobs="
                f"{self.top_logprobs}), so it cannot label comparisons; `transformers serve` ignores these fields, vLLM "
                "and OpenAI return them. Use such a server, a text-dialect feedback model on a server with echo, or a local model"
            )
        try:
            return chat_option_logprobs(content, options, what)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise malformed(what, exc) from None

    # -- capabilities -------------------------------------------------------

    def post_capable(self, path: str, body: dict[str, Any], what: str | None = None) -> dict[str, Any]:
        """`post`, leaving out the optional fields this server has refused before, or refuses now.

        Servers differ in which OpenAI extras they take: `transformers serve`
        answers 422 to `top_k`, OpenAI itself to `top_k` too. A refusal that
        names one of the optional fields drops it (for this request and every
        later one, listed in `dropped_fields`) and the request is sent again.
        """
        body = {k: v for k, v in body.items() if k not in self.dropped_fields}
        while True:
            try:
                return self.post(path, body, what)
            except BackendHTTPError as err:
                rejected = rejected_fields(err, body)
                if not rejected:
                    raise
                self.dropped_fields.update(rejected)
                body = {k: v for k, v in body.items() if k not in rejected}


# Fields a request works without; the rest (model, prompt, messages, max_tokens) it cannot.
OPTIONAL_FIELDS = ("top_k", "seed", "n", "stop", "top_p")


def rejected_fields(err: BackendHTTPError, body: dict[str, Any]) -> set[str]:
    """The optional fields of `body` a 400/422 answer names as unexpected or unsupported."""
    if err.status not in (400, 422):
        return set()
    text = str(err)
    return {name for name in OPTIONAL_FIELDS if name in body and re.search(rf"['\"`]{name}['\"`]", text)}


def chat_option_logprobs(content: Sequence[dict[str, Any]], options: Sequence[str], what: str = "the request") -> list[float]:
    """The log-probability that a chat reply picks each option, from the reply's per-token alternatives.

    A reply token (or the first two, when the first is a prefix every option
    shares, such as "(") picks an option when it starts that option and no
    other: "(A)", "(A" and, after "(", "A" all pick "(A)". An option's score
    is the log of the summed probability of the ways to pick it. An option
    the server's top alternatives leave out gets the least alternative
    shown there, an upper bound on its log-probability, so a confident
    verdict stays confident instead of aborting the run.
    """
    keys = [option.strip() for option in options]
    if len(set(keys)) != len(keys) or not all(keys):
        raise UnsupportedScoringError(f"chat options must be distinct non-blank strings, got {list(options)!r}")
    found: list[list[float]] = [[] for _ in keys]
    floors: list[float] = []
    first = _alternatives(content[0], what)
    floors.append(min(first.values()))
    for token, logprob in first.items():
        picks = _picked(token, keys)
        if len(picks) == 1:
            found[picks[0]].append(logprob)
        elif len(picks) == len(keys) and token == content[0].get("token") and len(content) > 1:
            second = _alternatives(content[1], what)
            floors.append(logprob + min(second.values()))
            for token2, logprob2 in second.items():
                both = _picked(token.strip() + token2.strip(), keys)
                if len(both) == 1:
                    found[both[0]].append(logprob + logprob2)
    if not any(found):
        seen = sorted(first)
        raise UnsupportedScoringError(
            f"none of {list(options)!r} is among the chat reply's likeliest first tokens ({seen!r}), nor after a shared "
            "prefix; the feedback model does not answer in the asked form"
        )
    # Any token the server left out is no likelier than the least it showed at that position.
    floor = _logsumexp(floors)
    return [_logsumexp(values) if values else floor for values in found]


def _alternatives(position: dict[str, Any], what: str) -> dict[str, float]:
    alternatives = {str(alt["token"]): checked_logprob(alt["logprob"], what, "top_logprobs entry") for alt in position.get("top_logprobs") or []}
    alternatives.setdefault(str(position["token"]), checked_logprob(position["logprob"], what, "token logprob"))
    return alternatives


def _picked(token: str, keys: Sequence[str]) -> list[int]:
    text = token.strip()
    if not text:
        return []
    # A bare letter answers "(A)" too: the core is the option without its brackets.
    return [i for i, key in enumerate(keys) if key.startswith(text) or text.startswith(key) or key.strip("() ").startswith(text)]


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _shape(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an empty list" if not value else f"a list of {len(value)}"
    return f"a {type(value).__name__}" if not isinstance(value, dict) else "an object"


def _preview(prompt: Prompt) -> str:
    text = prompt if isinstance(prompt, str) else str((list(prompt) or [{}])[-1].get("content", ""))
    text = " ".join(text.split())
    return repr(text if len(text) <= 50 else text[:47] + "...")


def _defused_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """Chat messages with control-token strings in their text broken (see tokens.defuse_known)."""
    messages = []
    for message in prompt:  # type: ignore[union-attr]
        message = dict(message)
        if isinstance(message.get("content"), str):
            message["content"] = defuse_known(message["content"])
        messages.append(message)
    return messages


def _choices(reply: dict[str, Any], what: str) -> list[dict[str, Any]]:
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BackendHTTPError(f"{what}: the reply has no choices (`choices` is {_shape(choices)}): {json.dumps(reply)[:200]}")
    if not all(isinstance(choice, dict) for choice in choices):
        raise BackendHTTPError(f"{what}: the reply's choices are not objects: {json.dumps(choices)[:200]}")
    return choices


def _first_choice(reply: dict[str, Any], what: str = "the request") -> dict[str, Any]:
    return _choices(reply, what)[0]


def _message_text(choice: dict[str, Any], what: str) -> str:
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BackendHTTPError(f"{what}: the reply's choice has no `message` object: {json.dumps(choice)[:200]}")
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise BackendHTTPError(f"{what}: the reply's message content is {_shape(content)}, not text")
    return content


def _choice_text(choice: dict[str, Any], what: str) -> str:
    text = choice.get("text")
    if text is None:
        return ""
    if not isinstance(text, str):
        raise BackendHTTPError(f"{what}: the reply's choice text is {_shape(text)}, not text")
    return text


def _sum_tail_logprobs(choice: dict[str, Any], continuation: str, what: str = "the request") -> float:
    """Sum the logprobs of the echoed tokens that cover the continuation.

    Offsets are anchored at the end, not at len(prompt): servers count a
    BOS's text ("<s>") and some spell tokens raw ("Ġ", "▁"), which shifts
    every start but not where the echo stops, since max_tokens=0 adds nothing.
    A token straddling the boundary is counted, like the local backend's
    shared-prefix rule. Character counts match for ASCII continuations.
    """
    echoed = choice.get("text")
    if isinstance(echoed, str) and echoed and not echoed.endswith(continuation):
        # The end anchor below assumes nothing was generated after the echo.
        raise UnsupportedScoringError("the server generated text after the echo despite max_tokens=0")
    logprobs = choice.get("logprobs") or {}
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    offsets = logprobs.get("text_offset")
    if not (isinstance(tokens, list) and all(isinstance(t, str) for t in tokens) and isinstance(values, list)):
        raise TypeError("`tokens` must be a list of strings and `token_logprobs` a list")
    if offsets is not None and not (isinstance(offsets, list) and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise TypeError("`text_offset` must be a list of integers")
    if not tokens or len(values) != len(tokens):
        raise UnsupportedScoringError("the server did not echo prompt token logprobs (echo=true is unsupported)")
    if not offsets or len(offsets) != len(tokens):
        offsets, at = [], 0
        for token in tokens:
            offsets.append(at)
            at += len(token)
    ends = list(offsets[1:]) + [offsets[-1] + len(tokens[-1])]
    start = ends[-1] - len(continuation)
    total = 0.0
    for end, value in zip(ends, values):
        if end <= start:
            continue
        if value is None:
            raise UnsupportedScoringError(
                f"cannot score {continuation!r}: it covers the first echoed token, which has no logprob"
            )
        total += checked_logprob(value, what, "token_logprobs entry")
    return total


def _error_detail(err: urllib.error.HTTPError) -> str:
    try:
        text = err.read().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the status code alone still explains
        return err.reason or ""
    try:
        payload = json.loads(text)
        message = payload.get("error", payload)
        if isinstance(message, dict):
            message = message.get("message", message)
        return str(message)[:500]
    except (json.JSONDecodeError, AttributeError):
        return text[:500]


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    """Seconds to wait from `Retry-After`, given as seconds or as an HTTP date."""
    value = err.headers.get("Retry-After") if err.headers else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
