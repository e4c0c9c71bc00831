"""A small JSON-RPC client that drives `python -m cai_lang lsp` over stdio, for the tests.

It frames messages with `Content-Length` headers, reads the server's output
on a thread, answers nothing the server asks (it asks nothing we rely on),
and lets a test wait for a response or for a notification that matches.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable


class LspClient:
    def __init__(self, cwd: Path, log: Path):
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cai_lang", "lsp"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._inbox: queue.Queue = queue.Queue()
        self.notifications: list[dict] = []
        self._responses: dict[int, dict] = {}
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    # ------------------------------------------------------------ wire
    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            self._inbox.put(json.loads(stream.read(length).decode("utf-8")))

    def _send(self, payload: dict) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _pump(self, deadline: float) -> None:
        message = self._inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        if "id" in message and "method" not in message:
            self._responses[message["id"]] = message
        elif "id" in message:  # a request from the server: answer it so it does not wait
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        else:
            self.notifications.append(message)

    # ------------------------------------------------------------ API
    def request(self, method: str, params: Any, timeout: float = 15.0) -> Any:
        self._next_id += 1
        ident = self._next_id
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while ident not in self._responses:
            self._pump(deadline)
        response = self._responses.pop(ident)
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_for(self, method: str, where: Callable[[dict], bool] = lambda p: True, timeout: float = 15.0) -> dict:
        """The params of the first notification `method` (not yet taken) that matches `where`."""
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self.notifications):
                if message.get("method") == method and where(message.get("params")):
                    del self.notifications[index]
                    return message["params"]
            self._pump(deadline)

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
        finally:
            self._log.close()
