"""Reading LSP messages off stdin, refusing broken framing instead of losing sync silently.

Each message is headers, a blank line, then exactly `Content-Length` bytes
of JSON. pygls's own loop skips a header it cannot read, so after a missing,
non-numeric or negative `Content-Length` it reads the body as headers and
never answers again. Here such a message (and a header line or a body over
the limits) gets a JSON-RPC error response with a null id, naming the
problem, and the connection is closed: once a boundary is lost nothing after
it can be trusted. Well-framed messages go to the protocol exactly as pygls
would hand them over.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any, BinaryIO, Callable

from cai_lang.syntax.limits import max_file_bytes

MAX_HEADER_LINE = 8192
PARSE_ERROR = -32700

log = logging.getLogger(__name__)


def max_body() -> int:
    # A whole document in a didOpen, as JSON (escapes can double it), plus slack.
    return 3 * max_file_bytes() + 1024 * 1024


class BoundedStdinReader:
    """Blocking reads of stdin on an executor, a header line at most MAX_HEADER_LINE bytes."""

    def __init__(self, stdin: BinaryIO, executor) -> None:
        self.stdin = stdin
        self.executor = executor

    async def readline(self) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.stdin.readline, MAX_HEADER_LINE + 1)

    async def read(self, size: int) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.stdin.read, size)


def framing_problem(headers: list[bytes], length: int | None) -> str | None:
    if any(len(line) > MAX_HEADER_LINE for line in headers):
        return f"a header line longer than {MAX_HEADER_LINE} bytes"
    if length is None:
        return "a message without a Content-Length header"
    if length > max_body():
        return f"Content-Length {length} is over the {max_body()}-byte limit"
    return None


def _content_length(line: bytes) -> tuple[bool, int | None, str | None]:
    """(is it a Content-Length header, its value, what is wrong with it)."""
    name, _, value = line.decode("latin-1").partition(":")
    if name.strip().lower() != "content-length":
        return False, None, None
    value = value.strip()
    if not value.isdigit():
        return True, None, f"Content-Length {value[:40]!r} is not a whole number of bytes"
    return True, int(value), None


def error_response(problem: str) -> bytes:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": f"caic lsp: {problem}; closing the connection"}}
    ).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def run_framed(
    stop_event: threading.Event,
    reader: BoundedStdinReader,
    protocol: Any,
    write: Callable[[bytes], None],
    error_handler: Callable[[Exception, type], Any] | None = None,
    error_type: type = Exception,
) -> None:
    """The message loop: read, frame-check, hand to `protocol.handle_message`."""
    while not stop_event.is_set():
        headers: list[bytes] = []
        length: int | None = None
        problem: str | None = None
        while True:
            line = await reader.readline()
            if not line:
                return  # the client closed stdin
            if not line.strip():
                break
            headers.append(line)
            if len(line) > MAX_HEADER_LINE or not line.endswith(b"\n"):
                problem = f"a header line longer than {MAX_HEADER_LINE} bytes"
                break
            is_length, value, wrong = _content_length(line)
            if is_length:
                length, problem = value, wrong
        problem = problem or framing_problem(headers, length)
        if problem is not None or length is None:
            log.error("closing the connection: %s", problem)
            write(error_response(problem or "a message without a Content-Length header"))
            return
        body = await reader.read(length)
        if len(body) < length:
            return  # stdin ended mid-message
        try:
            message = json.loads(body, object_hook=protocol.structure_message)
            protocol.handle_message(message)
        except Exception as exc:  # noqa: BLE001 - as pygls does: report, keep serving
            log.exception("unable to handle a message")
            if error_handler is not None:
                error_handler(exc, error_type)
