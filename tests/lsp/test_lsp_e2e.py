"""End to end: the real language server as a subprocess, spoken to over stdio.

One server serves the whole module. It opens a workspace file with an
unknown reference placed after an emoji on its line (so the range must be
counted in UTF-16 code units) and an import whose own file has an error;
then the document is fixed through `didChange`, and hover, definition
(into a local module and into the standard library), completion, document
symbols, formatting and the explain command are asked of the fixed text.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="the lsp extra is not installed (pip install -e '.[lsp]')")

from lsp_client import LspClient  # noqa: E402 - after the skip

from cai_lang.lsp.formatting import format_text
from cai_lang.resources import stdlib_dir

MAIN = textwrap.dedent(
    """\
    constitution main {
        description "A constitution the language server tests edit."
    }

    import std.harmless
    import "./extra.const" as extra

    context {
        risk: low | medium | high
    }

    action greet "say hello"

    principle helpful {
        description "Answers what was asked."
        critique "Point out where the response ignores the question."
        revision "Rewrite the response so it answers the question."
        compare "Which response answers the question more directly?"
        weight 2.0
    }

    rule no_greeting { never greet when risk == high }

    conflict helpful vs harmless.least_harmful {
        prefer harmless.least_harmful when risk >= medium
        prefer helpful otherwise
    }

    priority extra.extra_care > helpful

    deployment clinic {
        weight helpful 3.0
    }

    action wave "wave 😀 at the user" priority helpfull > harmless.no_dangerous_capability
    """
)
FIXED = MAIN.replace("helpfull", "helpful")
EXTRA = textwrap.dedent(
    """\
    principle extra_care {
        critique "Point out where the response skips a safety caveat."
        revision "Rewrite the response with the caveat it needs."
        compare "Which response states the caveats it needs?"
    }

    priority extra_care > missing_thing
    """
)


def _position(text: str, needle: str, delta: int = 0) -> dict:
    """LSP position (UTF-16 code units) of `needle` in `text`, moved `delta` characters."""
    offset = text.index(needle) + delta
    line = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    return {"line": line, "character": len(text[line_start:offset].encode("utf-16-le")) // 2}


def _range(text: str, needle: str) -> dict:
    return {"start": _position(text, needle), "end": _position(text, needle, len(needle))}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("workspace")
    (root / "main.const").write_text(MAIN, encoding="utf-8")
    (root / "extra.const").write_text(EXTRA, encoding="utf-8")
    client = LspClient(root, root / "server.log")
    try:
        client.request("initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {"general": {"positionEncodings": ["utf-16"]}}})
        client.notify("initialized", {})
        uri = (root / "main.const").as_uri()
        extra_uri = (root / "extra.const").as_uri()
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "caic", "version": 1, "text": MAIN}})
        opened = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
        imported = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == extra_uri)
        client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": FIXED}]},
        )
        fixed = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
        yield {"client": client, "uri": uri, "extra_uri": extra_uri, "opened": opened, "imported": imported, "fixed": fixed}
    finally:
        client.close()


def _ask(session, method: str, needle: str, delta: int = 0, text: str = FIXED):
    params = {"textDocument": {"uri": session["uri"]}, "position": _position(text, needle, delta)}
    return session["client"].request(method, params)


def test_an_error_arrives_with_its_code_and_utf16_range(session):
    found = [d for d in session["opened"]["diagnostics"] if d["code"] == "E101"]
    assert len(found) == 1
    diagnostic = found[0]
    assert diagnostic["range"] == _range(MAIN, "helpfull")
    assert diagnostic["severity"] == 1 and "helpfull" in diagnostic["message"]
    assert diagnostic["codeDescription"]["href"].startswith("command:caic.explain")
    assert diagnostic["data"]["explain"] == "caic explain E101"


def test_diagnostics_of_an_imported_file_go_to_its_uri(session):
    codes = [(d["code"], d["range"]) for d in session["imported"]["diagnostics"]]
    assert ("E101", _range(EXTRA, "missing_thing")) in codes


def test_a_change_that_fixes_the_error_clears_it(session):
    assert "E101" not in [d["code"] for d in session["fixed"]["diagnostics"]]


def test_hover_on_a_principle_shows_wording_and_weight_and_tier_per_deployment(session):
    hover = _ask(session, "textDocument/hover", "weight helpful", len("weight h"))
    text = hover["contents"]["value"]
    assert "Answers what was asked." in text and "ignores the question" in text
    assert "| `default` | 2.0 |" in text and "| `clinic` | 3.0 |" in text
    assert hover["range"] == {"start": _position(FIXED, "helpful 3.0"), "end": _position(FIXED, "helpful 3.0", 7)}


def test_hover_on_a_context_variable_shows_its_type(session):
    hover = _ask(session, "textDocument/hover", "risk == high")
    assert "low | medium | high" in hover["contents"]["value"]


def test_definition_into_the_standard_library(session):
    location = _ask(session, "textDocument/definition", "harmless.least_harmful when", len("harmless.l"))
    stdlib_file = stdlib_dir() / "harmless.const"
    assert Path(location["uri"].removeprefix("file://")).resolve() == stdlib_file.resolve()
    expected = _range(stdlib_file.read_text(encoding="utf-8"), "least_harmful {")
    assert location["range"]["start"] == expected["start"]


def test_definition_into_a_local_module(session):
    location = _ask(session, "textDocument/definition", "extra.extra_care", len("extra.e"))
    assert location["uri"] == session["extra_uri"]
    assert location["range"] == {"start": _position(EXTRA, "extra_care"), "end": _position(EXTRA, "extra_care", 10)}


def _labels(result) -> set[str]:
    return {item["label"] for item in (result["items"] if isinstance(result, dict) else result)}


def test_completion_of_references_variables_values_and_keywords(session):
    assert {"least_harmful", "non_evasive"} <= _labels(_ask(session, "textDocument/completion", "harmless.least_harmful when", len("harmless.")))
    assert {"helpful", "harmless.least_harmful", "extra.extra_care"} <= _labels(_ask(session, "textDocument/completion", "priority extra", len("priority ")))
    assert {"risk", "minor", "not"} <= _labels(_ask(session, "textDocument/completion", "risk >= medium", 0))
    assert _labels(_ask(session, "textDocument/completion", "medium\n", 0)) == {"low", "medium", "high"}
    assert {"principle", "rule", "deployment"} <= _labels(_ask(session, "textDocument/completion", "\naction greet", 1))
    assert {"critique", "weight", "applies"} <= _labels(_ask(session, "textDocument/completion", "    weight 2.0", 0))


def test_document_symbols_outline_the_file(session):
    outline = session["client"].request("textDocument/documentSymbol", {"textDocument": {"uri": session["uri"]}})
    names = {symbol["name"] for symbol in outline}
    assert {"main", "context", "helpful", "no_greeting", "clinic"} <= names
    clinic = next(s for s in outline if s["name"] == "clinic")
    assert [c["name"] for c in clinic["children"]] == ["weight helpful 3.0"]


def test_formatting_returns_the_formatter_output(session):
    edits = session["client"].request("textDocument/formatting", {"textDocument": {"uri": session["uri"]}, "options": {"tabSize": 4, "insertSpaces": True}})
    assert len(edits) == 1
    assert edits[0]["range"]["start"] == {"line": 0, "character": 0}
    assert edits[0]["newText"] == format_text(FIXED).text


def test_explain_command_gives_the_long_explanation(session):
    text = session["client"].request("workspace/executeCommand", {"command": "caic.explain", "arguments": ["E101"]})
    assert text.startswith("E101") and "Example" in text


def test_an_unsaved_buffer_edited_incrementally_then_closed(session):
    client, uri = session["client"], "untitled:Untitled-1"
    text = 'principle p { compare "Which is clearer?" }\npriority p > q\n'
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "caic", "version": 1, "text": text}})
    opened = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    unknown = [d["range"] for d in opened["diagnostics"] if d["code"] == "E101"]
    assert unknown == [{"start": _position(text, "q\n"), "end": _position(text, "q\n", 1)}]
    end = _position(text, text, len(text))
    insertion = {"range": {"start": end, "end": end}, "text": 'principle q { compare "Which is shorter?" }\n'}
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [insertion]})
    changed = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    assert "E101" not in [d["code"] for d in changed["diagnostics"]]
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)["diagnostics"] == []


def test_an_imported_file_changed_on_disk_is_read_again(session):
    client, root = session["client"], Path(session["extra_uri"].removeprefix("file://"))
    root.write_text(EXTRA.replace("missing_thing", "extra_care_too") + '\nprinciple extra_care_too { compare "Which is safer?" }\n', encoding="utf-8")
    stat = root.stat()
    os.utime(root, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    client.notify("textDocument/didSave", {"textDocument": {"uri": session["uri"]}})
    # Earlier checks published for this file too; wait for one without the error (or time out).
    cleared = client.wait_for(
        "textDocument/publishDiagnostics",
        lambda p: p["uri"] == session["extra_uri"] and "E101" not in [d["code"] for d in p["diagnostics"]],
        timeout=10,
    )
    assert [d for d in cleared["diagnostics"] if d["severity"] == 1] == []
