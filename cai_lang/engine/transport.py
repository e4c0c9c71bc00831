"""What the HTTP backend trusts of a server: nothing. Deadlines, reply sizes and log-probabilities, checked.

A server is untrusted input (a misbehaving proxy, a hostile endpoint, a
buggy build), so three things are bounded or checked here:

- time: `DeadlineClock` bounds a whole request (connecting, the status line,
  the headers and the body) by one deadline. urllib's `timeout` bounds each
  socket wait only, so a server trickling its headers one byte at a time
  would hold a request forever; every socket opened for a request is shut
  down when that request's deadline passes, which wakes any blocked read;
- size: `read_reply` reads at most `max_bytes` of a reply (a `Content-Length`
  over it is refused before reading), so an endless body is cut off instead
  of growing memory until a MemoryError;
- log-probabilities: `logprob` accepts a finite number no greater than zero
  (a little rounding above zero is clamped to 0) and nothing else, so NaN,
  infinities (`1e400` parses as infinity) or text never become soft labels.

Errors raised here are `BackendHTTPError`s (or `TimeoutError` for the
deadline, which the caller retries), with the request named by the caller.
"""

from __future__ import annotations

import http.client
import math
import socket
import threading
import time
import urllib.request
from typing import Any

from cai_lang.engine.base import BackendHTTPError

DEFAULT_MAX_REPLY_BYTES = 64 * 1024 * 1024  # far above any real reply, even echoed log-probs of long prompts
_ROUNDING = 1e-3  # log-probs a little above 0 are rounding, not a claim


class DeadlineClock:
    """The deadline of the request running on each thread, enforced on every socket that request opens."""

    def __init__(self) -> None:
        self._local = threading.local()

    def start(self, seconds: float) -> float:
        self._local.deadline = time.monotonic() + seconds
        self._local.timers = []
        return self._local.deadline

    def stop(self) -> None:
        for timer in getattr(self._local, "timers", ()):
            timer.cancel()
        self._local.timers = []
        self._local.deadline = None

    def expired(self) -> bool:
        deadline = getattr(self._local, "deadline", None)
        return deadline is not None and time.monotonic() >= deadline

    def watch(self, sock: socket.socket) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (sock,))
        timer.daemon = True
        timer.start()
        self._local.timers.append(timer)

    def handlers(self) -> list[urllib.request.BaseHandler]:
        """urllib handlers whose connections obey this clock (plain HTTP and HTTPS)."""
        clock = self

        class Connection(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                clock.watch(self.sock)

        class SecureConnection(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                clock.watch(self.sock)

        class Handler(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(Connection, req)

        class SecureHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                extra = {"check_hostname": self._check_hostname} if hasattr(self, "_check_hostname") else {}
                return self.do_open(SecureConnection, req, context=self._context, **extra)

        return [Handler(), SecureHandler()]


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the request ended just now


def read_reply(response: Any, clock: DeadlineClock, max_bytes: int, what: str) -> bytes:
    """The whole body, within the clock's deadline (else TimeoutError) and `max_bytes` (else BackendHTTPError)."""
    length = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise BackendHTTPError(f"{what}: the reply announces {int(length)} bytes, over the {max_bytes}-byte limit of a reply")
    chunks, size = [], 0
    while True:
        if clock.expired():
            raise TimeoutError("the request's deadline passed while reading the reply")
        chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
        if clock.expired():
            raise TimeoutError("the request's deadline passed while reading the reply")
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise BackendHTTPError(f"{what}: the reply goes on past the {max_bytes}-byte limit of a reply; cut off")
        chunks.append(chunk)


def logprob(value: Any, what: str, where: str) -> float:
    """A log-probability from a reply: a finite number <= 0, else a BackendHTTPError naming the request."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BackendHTTPError(f"{what}: the reply's {where} is {value!r}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise BackendHTTPError(f"{what}: the reply's {where} is {number!r}, not a finite log-probability; nothing was labelled from it")
    if number > _ROUNDING:
        raise BackendHTTPError(f"{what}: the reply's {where} is {number!r}, above 0, so not a log-probability")
    return min(number, 0.0)


def malformed(what: str, exc: Exception) -> BackendHTTPError:
    """The error for log-probabilities of the wrong shape (a missing key, a list where an object belongs)."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return BackendHTTPError(f"{what}: the reply's log-probabilities are not in the OpenAI shape ({detail})")
