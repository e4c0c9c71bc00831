"""End to end over stdio: references, rename (across an import, refused for the standard
library), quick fixes (one applied until its diagnostic goes), semantic tokens, folding
ranges, inlay hints and workspace symbols, asked of the real `caic lsp`."""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("pygls", reason="the lsp extra is not installed (pip install -e '.[lsp]')")

from lsp_client import LspClient  # noqa: E402 - after the skip

from cai_lang.diagnostics.fixes import Edit, apply_edits  # noqa: E402
from cai_lang.span import SourceFile  # noqa: E402

MAIN = textwrap.dedent(
    """\
    constitution main {
        description "Rename, references and quick fixes."
    }

    import std.harmless
    import "./extra.const" as extra

    context {
        risk: low | medium | high
    }

    action greet "say hello"

    principle helpful {
        critique "Point out where the response ignores the question."
        revision "Rewrite the response so it answers the question."
        compare "Which response answers the question more directly?"
    }

    rule no_greeting {
        never greet when risk == high
    }

    rule greet_low {
        always greet when risk >= medium
    }

    rule greet_high {
        always greet when risk == high
    }

    priority no_greeting > greet_low

    priority no_greeting > greet_high

    priority extra.care > helpful > harmless.least_harmful

    conflict helpful vs extra.care {
        prefer extra.care when risk >= medium
        prefer helpful otherwise
    }

    deployment clinic {
        weight helpful 3.0
    }
    """
)
EXTRA = textwrap.dedent(
    """\
    principle care {
        critique "Point out where the response skips a safety caveat."
        revision "Rewrite the response with the caveat it needs."
        compare "Which response states the caveats it needs?"
    }
    """
)
TYPO = MAIN.replace("priority no_greeting > greet_low", "priority no_greetng > greet_low")


def _position(text: str, needle: str, delta: int = 0) -> dict:
    offset = text.index(needle) + delta
    return {"line": text.count("\n", 0, offset), "character": offset - (text.rfind("\n", 0, offset) + 1)}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("editing")
    (root / "main.const").write_text(MAIN, encoding="utf-8")
    (root / "extra.const").write_text(EXTRA, encoding="utf-8")
    (root / "typo.const").write_text(TYPO, encoding="utf-8")
    client = LspClient(root, root / "server.log")
    try:
        client.request("initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}})
        client.notify("initialized", {})
        uris = {name: (root / f"{name}.const").as_uri() for name in ("main", "extra", "typo")}
        for name, text in (("main", MAIN), ("extra", EXTRA)):
            client.notify("textDocument/didOpen", {"textDocument": {"uri": uris[name], "languageId": "caic", "version": 1, "text": text}})
            client.wait_for("textDocument/publishDiagnostics", lambda p, u=uris[name]: p["uri"] == u)
        yield {"client": client, "uris": uris, "root": root}
    finally:
        client.close()


def _at(session, method: str, name: str, needle: str, delta: int = 0, text: str = MAIN, **extra):
    params = {"textDocument": {"uri": session["uris"][name]}, "position": _position(text, needle, delta), **extra}
    return session["client"].request(method, params)


def _lines(edits_or_locations) -> list[int]:
    return sorted(item["range"]["start"]["line"] for item in edits_or_locations)


def test_references_of_a_principle_include_its_declaration(session):
    found = _at(session, "textDocument/references", "main", "principle helpful", len("principle h"), context={"includeDeclaration": True})
    assert all(loc["uri"] == session["uris"]["main"] for loc in found)
    expected = sorted(i for i, line in enumerate(MAIN.splitlines()) if "helpful" in line and "description" not in line)
    assert _lines(found) == expected
    without = _at(session, "textDocument/references", "main", "principle helpful", len("principle h"), context={"includeDeclaration": False})
    assert len(without) == len(found) - 1


def test_rename_across_an_import_rewrites_both_files(session):
    edit = _at(session, "textDocument/rename", "main", "extra.care >", len("extra.c"), newName="caution")
    changes = edit["changes"]
    assert set(changes) == {session["uris"]["main"], session["uris"]["extra"]}
    new_main = _apply(MAIN, changes[session["uris"]["main"]])
    new_extra = _apply(EXTRA, changes[session["uris"]["extra"]])
    assert "extra.care" not in new_main and new_main.count("extra.caution") == 3
    assert new_extra.startswith("principle caution {")


def test_rename_from_the_imported_file_reaches_its_importer(session):
    edit = _at(session, "textDocument/rename", "extra", "principle care", len("principle c"), text=EXTRA, newName="caution")
    assert _apply(MAIN, edit["changes"][session["uris"]["main"]]).count("extra.caution") == 3


def test_prepare_rename_gives_the_name_and_refuses_the_standard_library(session):
    prepared = _at(session, "textDocument/prepareRename", "main", "extra.care >", len("extra.c"))
    assert prepared["placeholder"] == "care"
    assert prepared["range"]["start"] == _position(MAIN, "care >")
    with pytest.raises(RuntimeError, match="standard library"):
        _at(session, "textDocument/prepareRename", "main", "harmless.least_harmful", len("harmless.l"))
    with pytest.raises(RuntimeError, match="keyword"):
        _at(session, "textDocument/rename", "main", "principle helpful", len("principle h"), newName="weight")
    with pytest.raises(RuntimeError, match="already declared"):
        _at(session, "textDocument/rename", "main", "principle helpful", len("principle h"), newName="no_greeting")


def test_a_quick_fix_makes_its_diagnostic_disappear(session):
    client, uri = session["client"], session["uris"]["typo"]
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "caic", "version": 1, "text": TYPO}})
    published = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    wrong = next(d for d in published["diagnostics"] if d["code"] == "E101")
    found = client.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": wrong["range"], "context": {"diagnostics": [wrong]}})
    fix = next(a for a in found if a["title"].startswith("change to `no_greeting`"))
    assert fix["kind"] == "quickfix" and fix["isPreferred"] is True
    fixed = _apply(TYPO, fix["edit"]["changes"][uri])
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]})
    after = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    assert [d for d in after["diagnostics"] if d["code"] == "E101"] == []


def test_a_warning_offers_a_suppression_comment(session):
    client, uri = session["client"], session["uris"]["main"]
    warning_range = {"start": _position(MAIN, "revision \"Rewrite the response so"), "end": _position(MAIN, "revision \"Rewrite the response so", 30)}
    found = client.request("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": warning_range, "context": {"diagnostics": []}})
    silence = next(a for a in found if "caic: allow W301" in a["title"])
    assert _apply(MAIN, silence["edit"]["changes"][uri]).count("    # caic: allow W301\n    revision") == 1


def test_semantic_tokens_tell_principles_rules_and_aliases_apart(session):
    tokens = session["client"].request("textDocument/semanticTokens/full", {"textDocument": {"uri": session["uris"]["main"]}})
    data, line, char, decoded = tokens["data"], 0, 0, {}
    for i in range(0, len(data), 5):
        line += data[i]
        char = data[i + 1] + (char if data[i] == 0 else 0)
        word = MAIN.splitlines()[line][char : char + data[i + 2]]
        decoded.setdefault(word, set()).add((data[i + 3], data[i + 4]))
    legend = ["namespace", "class", "function", "event", "variable", "enumMember", "struct"]
    assert {legend[t] for t, _m in decoded["helpful"]} == {"class"}
    assert (legend.index("class"), 1) in decoded["helpful"]  # the declaration is marked
    assert {legend[t] for t, _m in decoded["no_greeting"]} == {"function"}
    assert {legend[t] for t, _m in decoded["extra"]} == {"namespace"}
    assert (legend.index("class"), 2) in decoded["least_harmful"]  # from the standard library
    assert {legend[t] for t, _m in decoded["high"]} == {"enumMember"}


def test_folding_ranges_cover_multiline_declarations(session):
    ranges = session["client"].request("textDocument/foldingRange", {"textDocument": {"uri": session["uris"]["main"]}})
    spans = {(r["startLine"], r["endLine"]) for r in ranges}
    start = _position(MAIN, "principle helpful")["line"]
    assert (start, start + 4) in spans
    assert (_position(MAIN, "deployment clinic")["line"], _position(MAIN, "deployment clinic")["line"] + 2) in spans


def test_inlay_hints_show_effective_weights_and_resolved_verdicts(session):
    whole = {"start": {"line": 0, "character": 0}, "end": {"line": len(MAIN.splitlines()), "character": 0}}
    hints = session["client"].request("textDocument/inlayHint", {"textDocument": {"uri": session["uris"]["main"]}, "range": whole})
    labels = {h["position"]["line"]: h["label"] for h in hints}
    assert labels[_position(MAIN, "principle helpful")["line"]] == "weight default 1.0 · clinic 3.0"
    assert labels[_position(MAIN, "rule greet_low")["line"]] == "yields to `no_greeting` where both apply"
    assert labels[_position(MAIN, "rule no_greeting")["line"]] == "overrides `greet_high`, overrides `greet_low` where both apply"
    assert labels[_position(MAIN, "rule greet_high")["line"]] == "never decides: `no_greeting` always outranks it"


def test_workspace_symbols_search_every_file(session):
    found = session["client"].request("workspace/symbol", {"query": "car"})
    assert {(s["name"], s["location"]["uri"]) for s in found} >= {("care", session["uris"]["extra"])}
    assert all("car" in s["name"].lower() for s in found)


def _apply(text: str, edits: list[dict]) -> str:
    source = SourceFile("x", text)
    made = []
    for edit in edits:
        start = source.offset(edit["range"]["start"]["line"] + 1, edit["range"]["start"]["character"] + 1)
        end = source.offset(edit["range"]["end"]["line"] + 1, edit["range"]["end"]["character"] + 1)
        made.append(Edit(span=source.span(start, end), new_text=edit["newText"]))
    return apply_edits(text, made)
