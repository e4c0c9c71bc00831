"""A scripted stand-in for an OpenAI-compatible server, for the HTTP backend tests.

It implements just enough of `/v1/completions` (including vLLM-style
`echo` + `logprobs`) and `/v1/chat/completions` (including `top_logprobs`),
records every request, and can be told to fail, stall or refuse the next
requests, so retries, timeouts and error messages can be tested without a
real inference server. Its "tokenizer" splits text into a BOS plus words with
their leading space, and a token's logprob is -0.1 per character, so tests can
compute expected scores by hand.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOS = "<s>"


def stub_tokens(text: str, bos: bool = True) -> list[str]:
    return [BOS] * bos + re.findall(r"\s*\S+|\s+$", text)


def token_logprob(token: str) -> float:
    return -0.1 * len(token)


@dataclass
class Stub:
    """State shared with the handler threads: what was asked, what to do next."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    # Actions for the next requests, consumed in order: ("status", code,
    # headers) answers with that error; ("delay", seconds) stalls first;
    # ("raw", bytes) answers 200 with exactly those bytes (truncated or
    # badly shaped JSON); ("trickle", seconds) sends a valid reply one byte
    # per `seconds`, so every read is quick but the whole reply is slow.
    script: list[tuple] = field(default_factory=list)
    # Per-prompt stalls, so concurrent answers finish out of order.
    delay_for: dict[str, float] = field(default_factory=dict)
    refuse_echo: bool = False
    bos: bool = True  # whether the stub "model" starts every text with a BOS
    # Fields answered with 422 "Unexpected fields", as `transformers serve` answers `top_k`.
    reject_fields: set[str] = field(default_factory=set)
    # The chat reply's `logprobs.content` when logprobs are asked for; None: "A" first, "B" second.
    chat_logprobs: list[dict[str, Any]] | None = None
    no_logprobs: bool = False  # ignore logprobs requests, as `transformers serve` does
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def next_action(self) -> tuple | None:
        with self.lock:
            return self.script.pop(0) if self.script else None


class _Handler(BaseHTTPRequestHandler):
    stub: Stub

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.stub.lock:
            self.stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        action = self.stub.next_action()
        if action and action[0] == "delay":
            time.sleep(action[1])
        if action and action[0] == "status":
            headers = action[2] if len(action) > 2 else {}
            return self._send(action[1], {"error": {"message": f"injected {action[1]}"}}, headers)
        if action and action[0] == "raw":
            return self._send_bytes(200, action[1])
        if action and action[0] == "trickle":
            return self._send_bytes(200, json.dumps({"choices": [{"index": 0, "text": "slow"}]}).encode(), action[1])
        unexpected = sorted(self.stub.reject_fields & set(body))
        if unexpected:
            return self._send(422, {"detail": f"Unexpected fields in the request: {set(unexpected)}"})
        if self.path == "/v1/completions":
            return self._completions(body)
        if self.path == "/v1/chat/completions":
            return self._chat(body)
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def _completions(self, body: dict[str, Any]) -> None:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if body.get("echo"):
            if self.stub.refuse_echo:
                return self._send(400, {"error": {"message": "echo is not supported"}})
            return self._send(200, {"choices": [self._echo(p, i) for i, p in enumerate(prompts)]})
        time.sleep(self.stub.delay_for.get(prompts[0], 0.0))
        # The completion names its prompt, so tests can check the order; the
        # stop strings are left in, so tests see the client cut them.
        text = f" <<{prompts[0]}>>{_seeded(body)} STOP tail"
        self._send(200, {"choices": [{"index": 0, "text": text, "finish_reason": "length"}]})

    def _echo(self, prompt: str, index: int) -> dict[str, Any]:
        tokens = stub_tokens(prompt, self.stub.bos)
        offsets, at = [], 0
        for token in tokens:
            offsets.append(at)
            at += len(token)
        values = [None] + [token_logprob(t) for t in tokens[1:]]
        logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": None}
        return {"index": index, "text": prompt, "logprobs": logprobs, "finish_reason": "length"}

    def _chat(self, body: dict[str, Any]) -> None:
        last = body["messages"][-1]["content"]
        time.sleep(self.stub.delay_for.get(last, 0.0))
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": f"chat<<{last}>>{_seeded(body)} STOP tail"},
            "finish_reason": "length",
        }
        if body.get("logprobs") and not self.stub.no_logprobs:
            top = [{"token": "A", "logprob": -0.25}, {"token": "B", "logprob": -1.5}]
            content = self.stub.chat_logprobs or [{"token": "A", "logprob": -0.25, "top_logprobs": top}]
            choice["logprobs"] = {"content": content}
        self._send(200, {"choices": [choice]})

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), headers=headers)

    def _send_bytes(self, status: int, data: bytes, trickle: float = 0.0, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if not trickle:
                self.wfile.write(data)
            for index in range(len(data) if trickle else 0):
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
                time.sleep(trickle)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up, as the timeout test wants


def _seeded(body: dict[str, Any]) -> str:
    # Like vLLM: a sampled request's text is fixed by its seed, so one seed twice gives one text twice.
    if body.get("seed") is None or not body.get("temperature"):
        return ""
    return f" [seed {body['seed']}]"


def start_stub() -> tuple[Stub, ThreadingHTTPServer]:
    stub = Stub()
    handler = type("Handler", (_Handler,), {"stub": stub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # A short poll interval keeps shutdown() (run after every test) quick.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    return stub, server
