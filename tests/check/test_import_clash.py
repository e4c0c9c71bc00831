"""A user's declaration that clashes with an imported module is reported in the user's file.

The case from issue 14: `risk: none | some` next to `import std.harmless`
(which declares `risk: low | medium | high`). One E106 at the user's
declaration with a note into the module, no E101 cascades inside the
module; the language server puts it in the user's document. A misspelt
import is one E103, with no follow-on errors for names used through it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.api import check_file
from cai_lang.cli.app import app

CLASH = """\
import std.harmless

context {
    risk: none | some
}

principle helpful {
    critique "Point out where the response misses what the user asked."
    revision "Rewrite the response so it answers the question."
    compare "Which response answers the question better?"
    applies when risk == some
}
"""


def test_clash_with_stdlib_is_reported_at_the_users_declaration(tmp_path: Path) -> None:
    root = tmp_path / "clash.const"
    root.write_text(CLASH, encoding="utf-8")
    (finding,) = check_file(root).diagnostics
    assert finding.code == "E106"
    assert finding.span.file.endswith("clash.const") and (finding.span.line, finding.span.column) == (4, 5)
    assert "none | some here" in finding.message and "harmless.const" in finding.message
    (note,) = finding.related
    assert note.span.file.endswith("harmless.const") and "low | medium | high" in note.message
    assert finding.help


def test_clash_through_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "clash.const"
    root.write_text(CLASH, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(root)])
    assert result.exit_code == 1
    assert result.output.count("error[") == 1
    assert "clash.const:4:5" in result.output


def test_clash_shows_in_the_users_document_over_lsp(tmp_path: Path) -> None:
    pytest.importorskip("lsprotocol", reason="the lsp extra is not installed (pip install -e '.[lsp]')")
    from cai_lang.lsp.diagnostics import by_file

    root = tmp_path / "clash.const"
    root.write_text(CLASH, encoding="utf-8")
    result = check_file(root)
    grouped = by_file(result.diagnostics, result.program, lambda path: Path(path).resolve().as_uri(), "utf-16")
    mine = grouped[root.resolve().as_uri()]
    assert [d.code for d in mine] == ["E106"]
    assert (mine[0].range.start.line, mine[0].range.start.character) == (3, 4)
    assert mine[0].related_information and mine[0].related_information[0].location.uri.endswith("harmless.const")
    assert not [d for uri, found in grouped.items() if uri != root.resolve().as_uri() for d in found]


def test_a_misspelt_import_is_reported_once(tmp_path: Path) -> None:
    root = tmp_path / "misspelt.const"
    principle = CLASH[CLASH.index("principle") :].replace("    applies when risk == some\n", "")
    root.write_text("import std.harmles\n\npriority harmles.least_harmful > helpful\n\n" + principle, encoding="utf-8")
    found = check_file(root).diagnostics
    assert [d.code for d in found] == ["E103"], [d.message for d in found]
    assert found[0].help == "did you mean `std.harmless`?"
