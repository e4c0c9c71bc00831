"""The language server under hostile input (issue 16, item 4): it answers while a large
document is checked, a newer edit cancels an older check, the size and error caps of
`caic check` apply, and broken framing is answered and closes the connection.

Ordering, not wall-clock time, is asserted: the hover reply must arrive before the
large document's diagnostics.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from lsp_client import LspClient

SMALL = 'principle careful {\n    critique "Point out claims stated too confidently."\n    revision "State the uncertainty."\n    compare "Which response states its uncertainty?"\n    weight 2.0\n}\n'
PRINCIPLE = 'principle p{i} {{\n    critique "Point out where answer {i} skips a caveat."\n    revision "Add caveat {i}."\n    compare "Which response states caveat {i}?"\n}}\n'
BROKEN = "rule r{i} {{\n    never act_{i} unless\n}}\n"


def _start(tmp_path) -> LspClient:
    client = LspClient(tmp_path, tmp_path / "server.log")
    client.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
    client.notify("initialized", {})
    return client


def _open(client, uri: str, text: str, version: int = 1) -> None:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "caic", "version": version, "text": text}})


def test_hover_is_answered_while_a_five_megabyte_document_is_checked(tmp_path) -> None:
    client = _start(tmp_path)
    try:
        small = (tmp_path / "small.const").as_uri()
        big = (tmp_path / "big.const").as_uri()
        _open(client, small, SMALL)
        client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == small, timeout=60)
        text = "".join(PRINCIPLE.format(i=i) for i in range(5_000_000 // len(PRINCIPLE.format(i=50_000))))
        assert len(text) > 4_900_000
        _open(client, big, text)
        time.sleep(1.0)  # let the big check get going on its worker thread
        hover = client.request(
            "textDocument/hover", {"textDocument": {"uri": small}, "position": {"line": 0, "character": 12}}, timeout=120
        )
        assert "careful" in json.dumps(hover)
        published = [n for n in client.notifications if n.get("method") == "textDocument/publishDiagnostics" and n["params"]["uri"] == big]
        assert published == []  # the hover came first
    finally:
        client.proc.kill()


def test_a_newer_edit_cancels_the_pending_check(tmp_path) -> None:
    client = _start(tmp_path)
    try:
        uri = (tmp_path / "doc.const").as_uri()
        _open(client, uri, SMALL)
        client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
        broken = "".join(BROKEN.format(i=i) for i in range(2000))
        for version in range(2, 6):  # typing fast: only the last text is checked
            change = broken if version < 5 else SMALL
            client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": change}]})
        final = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri, timeout=60)
        assert [d for d in final["diagnostics"] if d.get("severity") == 1] == []
        client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 12}})
        late = [n for n in client.notifications if n.get("method") == "textDocument/publishDiagnostics" and n["params"]["diagnostics"]]
        assert late == []  # the broken versions were never published
    finally:
        client.proc.kill()


def test_errors_are_capped_and_oversized_documents_refused(tmp_path) -> None:
    client = _start(tmp_path)
    try:
        uri = (tmp_path / "broken.const").as_uri()
        _open(client, uri, "".join(BROKEN.format(i=i) for i in range(300)))
        found = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri, timeout=60)["diagnostics"]
        errors = [d for d in found if d.get("severity") == 1]
        assert len(errors) == 50
        assert any("and 250 more errors" in d["message"] for d in found)
    finally:
        client.proc.kill()
    import os

    os.environ["CAIC_MAX_FILE_SIZE"] = "1000"
    try:
        client = _start(tmp_path)
    finally:
        del os.environ["CAIC_MAX_FILE_SIZE"]
    try:
        uri = (tmp_path / "large.const").as_uri()
        _open(client, uri, SMALL * 20)
        (note,) = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri, timeout=60)["diagnostics"]
        assert "not checked" in note["message"] and "1000-byte limit" in note["message"]
    finally:
        client.proc.kill()


def _framing(tmp_path, raw: bytes) -> tuple[dict, int]:
    process = subprocess.Popen([sys.executable, "-m", "cai_lang", "lsp"], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "shutdown"}'
    out, _ = process.communicate(raw + body + b"\r\n", timeout=60)
    header, _, payload = out.partition(b"\r\n\r\n")
    assert header.startswith(b"Content-Length: ")
    return json.loads(payload[: int(header.split(b":")[1])]), process.returncode


def test_framing_errors_are_answered_and_close_the_connection(tmp_path) -> None:
    for raw, words in [
        (b"Content-Type: application/json\r\n\r\n", "without a Content-Length"),
        (b"Content-Length: twelve\r\n\r\n", "'twelve' is not a whole number"),
        (b"Content-Length: -5\r\n\r\n", "'-5' is not a whole number"),
    ]:
        reply, status = _framing(tmp_path, raw)
        assert reply["id"] is None and reply["error"]["code"] == -32700
        assert words in reply["error"]["message"] and "closing the connection" in reply["error"]["message"]
        assert status is not None  # the server exited instead of hanging


def test_a_pigeonhole_condition_is_published_as_e212_not_a_busy_server(tmp_path, monkeypatch) -> None:
    """Issue 29, defect 9: the solver's limit holds in the language server too."""
    from cai_lang.diagnostics.codes import CODES

    monkeypatch.setenv("CAIC_SOLVER_RLIMIT", "200000")
    client = _start(tmp_path)
    try:
        uri = (tmp_path / "hard.const").as_uri()
        _open(client, uri, CODES["E212"].bad)
        published = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["diagnostics"], timeout=300)
        assert [d["code"] for d in published["diagnostics"]] == ["E212"]
    finally:
        client.proc.kill()
