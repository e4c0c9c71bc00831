"""Over the real language server: a clash with `std.harmless` shows in the user's document.

Before issue 14 the user's file got no diagnostic at all (all four went to
the standard library's file). Now the one E106 is published for the user's
URI at the user's declaration, with related information into the module.
"""

from __future__ import annotations

from lsp_client import LspClient

CLASH = """\
import std.harmless

context {
    risk: none | some
}

principle helpful {
    critique "Point out where the response misses what the user asked."
    revision "Rewrite the response so it answers the question."
    compare "Which response answers the question better?"
}
"""


def test_clash_with_an_import_is_published_in_the_users_document(tmp_path):
    path = tmp_path / "clash.const"
    path.write_text(CLASH, encoding="utf-8")
    client = LspClient(tmp_path, tmp_path / "server.log")
    try:
        client.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
        client.notify("initialized", {})
        uri = path.as_uri()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "caic", "version": 1, "text": CLASH}})
        published = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    finally:
        client.close()
    (diagnostic,) = published["diagnostics"]
    assert diagnostic["code"] == "E106"
    assert diagnostic["range"]["start"] == {"line": 3, "character": 4}
    (note,) = diagnostic["relatedInformation"]
    assert note["location"]["uri"].endswith("harmless.const") and "low | medium | high" in note["message"]
