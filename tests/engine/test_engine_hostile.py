"""Issue 29, defect 8: a hostile OpenAI-compatible server is contained.

A raw socket server on 127.0.0.1 plays each fault: headers trickled one byte
at a time, a body that never ends, non-finite log-probabilities (NaN,
-Infinity, 1e400, which JSON parsers read as infinity) and log-probabilities
of the wrong shape. Every case must end in a `BackendHTTPError` naming the
request, within the request's deadline, and never in a label.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from cai_lang.engine import BackendHTTPError
from cai_lang.engine.http import HTTPBackend

CHAT = [{"role": "user", "content": "Which is better, (A) or (B)?"}]


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


@contextmanager
def hostile(behaviour):
    """A server answering every connection with `behaviour(conn)`; stopped (and its threads ended) on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    threads = []

    def serve_one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                _read_request(conn)
                behaviour(conn, stop)
            except OSError:
                pass  # the client hung up: what a contained client does

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            thread = threading.Thread(target=serve_one, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(10)
        listener.close()
        for thread in threads:
            thread.join(10)


def _reply(conn: socket.socket, payload: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(payload) + payload)


def _backend(url: str, **options) -> HTTPBackend:
    return HTTPBackend(url, **{"model": "m", "timeout": 1.0, "max_retries": 0, "backoff": 0.01, **options})


def test_trickled_headers_are_cut_off_at_the_deadline() -> None:
    header = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000
    sent = []

    def trickle(conn, stop):
        for byte in header:
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            sent.append(byte)
            time.sleep(0.05)  # each byte well inside the timeout; the headers never end

    with hostile(trickle) as url:
        with pytest.raises(BackendHTTPError, match=r"failed after 1 attempts; last error: timed out after 1s \(the whole request, headers included\)"):
            _backend(url).generate(["hello"])
        # Bounded by the client's deadline, not by the server running out of bytes: the call gave up
        # while most of the never-ending header was still unsent (a count, not a clock).
        assert len(sent) < len(header) // 2


def test_an_endless_body_is_cut_off_at_the_size_limit() -> None:
    def endless(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        chunk = b'{"choices": [' + b" " * 65536
        while not stop.is_set():
            conn.sendall(chunk)

    with hostile(endless) as url:
        with pytest.raises(BackendHTTPError, match=r"POST .*/v1/completions.*goes on past the 1048576-byte limit"):
            _backend(url, timeout=60.0, max_reply_bytes=1024 * 1024).generate(["hello"])


def test_an_announced_huge_body_is_refused_before_reading() -> None:
    def announce(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{")

    with hostile(announce) as url:
        with pytest.raises(BackendHTTPError, match="announces 99999999999 bytes"):
            _backend(url, timeout=30.0).generate(["hello"])


def _echo(values) -> bytes:
    tokens = ["<s>", " a", " b"]
    logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": [0, 3, 5]}
    return json.dumps({"choices": [{"index": 0, "text": "<s> a b", "logprobs": logprobs}]}).encode()


@pytest.mark.parametrize("value", ["NaN", "-Infinity", "Infinity", "1e400", "-1e400", '"-0.5"', "true", "3.0"])
def test_non_finite_text_logprobs_are_refused_naming_the_request(value) -> None:
    payload = _echo([None, -0.5, 0.0]).replace(b"0.0]", value.encode() + b"]")

    with hostile(lambda conn, stop: _reply(conn, payload)) as url:
        with pytest.raises(BackendHTTPError) as info:
            _backend(url).continuation_logprobs(["<s> a"], [" b"])
    message = str(info.value)
    assert "scoring after prompt '<s> a'" in message and "/v1/completions" in message
    assert "token_logprobs entry" in message


@pytest.mark.parametrize("value", ["NaN", "-Infinity", "1e400"])
def test_non_finite_chat_logprobs_are_refused_naming_the_request(value) -> None:
    text = '{"choices": [{"message": {"content": "(A)"}, "logprobs": {"content": [{"token": "(A)", "logprob": %s, "top_logprobs": []}]}}]}' % value

    with hostile(lambda conn, stop: _reply(conn, text.encode())) as url:
        with pytest.raises(BackendHTTPError, match=r"chat/completions \(scoring after prompt 'Which is better.*not a finite log-probability"):
            _backend(url).continuation_logprobs([CHAT], ["(A)"])


MISSHAPEN_TEXT = [
    {"tokens": "abc", "token_logprobs": [-1.0, -1.0, -1.0]},
    {"tokens": [1, 2, 3], "token_logprobs": [None, -1.0, -1.0]},
    {"tokens": ["<s>", " a", " b"], "token_logprobs": {"x": 1}},
    {"tokens": ["<s>", " a", " b"], "token_logprobs": [None, -1.0, -1.0], "text_offset": ["x", "y", "z"]},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("logprobs", MISSHAPEN_TEXT)
def test_misshapen_text_logprobs_are_clear_errors(logprobs) -> None:
    payload = json.dumps({"choices": [{"index": 0, "text": "<s> a b", "logprobs": logprobs}]}).encode()

    with hostile(lambda conn, stop: _reply(conn, payload)) as url:
        with pytest.raises(BackendHTTPError, match=r"/v1/completions \(scoring after prompt '<s> a'\).*(not in the OpenAI shape|not a number)"):
            _backend(url).continuation_logprobs(["<s> a"], [" b"])


MISSHAPEN_CHAT = [
    {"content": [{"token": "(A)"}]},  # no logprob
    {"content": [["(A)", -0.1]]},  # a list where an object belongs
    {"content": [{"token": "(A)", "logprob": -0.1, "top_logprobs": [{"logprob": -0.1}]}]},
    {"content": "(A)"},
    "logprobs",
]


@pytest.mark.parametrize("logprobs", MISSHAPEN_CHAT)
def test_misshapen_chat_logprobs_are_clear_errors(logprobs) -> None:
    payload = json.dumps({"choices": [{"message": {"content": "(A)"}, "logprobs": logprobs}]}).encode()

    with hostile(lambda conn, stop: _reply(conn, payload)) as url:
        with pytest.raises(BackendHTTPError, match=r"chat/completions \(scoring after prompt 'Which is better.*not in the OpenAI shape"):
            _backend(url).continuation_logprobs([CHAT, CHAT], ["(A)", "(B)"])


def test_the_labeller_never_writes_a_nan_label(tmp_path) -> None:
    """Whatever the backend (local or a server that slipped through), a non-finite score stops labelling."""
    from cai_lang.engine import EngineError
    from cai_lang.train.rl.labeller import Comparison, ComparisonLabeller, FeedbackModel
    from cai_lang.train.run.work import ChunkWork

    class NaNBackend:
        def continuation_logprobs(self, prompts, continuations):
            return [float("nan")] * len(prompts)

    from cai_lang import api

    bundle = api.compile_file("stdlib_constitutions/harmless.const")[0]
    item = bundle.principles[0].id
    labeller = ComparisonLabeller(bundle, [FeedbackModel(NaNBackend())])
    comparison = Comparison(item, ({"role": "user", "content": "hi"},), "a", "b")
    with pytest.raises(EngineError, match=f"log-probability nan .* comparison by `{item}`; no label was written"):
        labeller._score_model(labeller.models[0], [comparison], ChunkWork(None, 0))
