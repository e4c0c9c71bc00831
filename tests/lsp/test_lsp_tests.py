"""The language server and `test` declarations: on save, a failing expectation
is an error on its `expect` line; hover on a test shows its result. Runs the
real server over stdio, as tests/lsp/test_lsp_e2e.py does."""

from __future__ import annotations

from pathlib import Path

from lsp_client import LspClient

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "review" / "expectations.const"
TEXT = FIXTURE.read_text(encoding="utf-8")


def _position(text: str, needle: str) -> dict:
    offset = text.index(needle)
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def test_failures_on_save_and_hover_results(tmp_path) -> None:
    path = tmp_path / "main.const"
    path.write_text(TEXT, encoding="utf-8")
    uri = path.as_uri()
    client = LspClient(tmp_path, tmp_path / "server.log")
    try:
        client.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
        client.notify("initialized", {})
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "caic", "version": 1, "text": TEXT}})
        opened = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
        assert not [d for d in opened["diagnostics"] if d.get("source") == "caic test"]  # only on save
        client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        saved = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and any(d.get("source") == "caic test" for d in p["diagnostics"]))
        failures = [d for d in saved["diagnostics"] if d["source"] == "caic test"]
        lines = TEXT.splitlines()
        assert all(lines[d["range"]["start"]["line"]].lstrip().startswith("expect") for d in failures)
        # Every expect line of the fixture's `bad_` tests fails, none of the `ok_` tests'.
        assert len(failures) == sum(1 for line in lines[lines.index("test bad_verdicts {") :] if line.strip().startswith("expect"))
        kids = next(d for d in failures if "bad_kids" in d["message"])
        last = TEXT.rindex("expect always disclose")
        assert kids["range"]["start"] == {"line": TEXT.count("\n", 0, last), "character": last - (TEXT.rfind("\n", 0, last) + 1)}
        assert "witness: authorized = false, minor = true, risk = high, topic = medical" in kids["message"]
        hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": _position(TEXT, "bad_kids")})
        assert "**FAIL**" in hover["contents"]["value"] and "deployment `kids`" in hover["contents"]["value"]
        hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": _position(TEXT, "ok_warn")})
        assert "**PASS**" in hover["contents"]["value"] and "1 of 1 expectations hold" in hover["contents"]["value"]
    finally:
        client.close()
