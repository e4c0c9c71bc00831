"""`caic fix`: the applicable fixes of each fixable diagnostic, applied, leave a file that
checks clean and is already in the `caic fmt` layout; `--diff` changes nothing; the JSON
report carries the same edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.api import check_file
from cai_lang.cli.app import app
from cai_lang.lsp.formatting import format_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fix"
runner = CliRunner()


def _codes(path: Path) -> list[str]:
    return [d.code for d in check_file(path).diagnostics if d.is_error]


@pytest.mark.parametrize(
    ("name", "errors_before"),
    [("e101", ["E101"] * 5), ("e202", ["E202"]), ("e202_deployment", ["E202"]), ("e203", ["E203"])],
)
def test_fix_leaves_a_clean_canonical_file(tmp_path: Path, name: str, errors_before: list[str]) -> None:
    path = tmp_path / f"{name}.const"
    shutil.copy(FIXTURES / f"{name}.const", path)
    original = path.read_text()
    assert not format_text(original).changed  # the input is canonical, so the edits must keep it so
    assert _codes(path) == errors_before
    result = runner.invoke(app, ["fix", str(path)])
    assert result.exit_code == 0, result.output
    fixed = path.read_text()
    assert fixed != original
    assert _codes(path) == []
    assert not format_text(fixed).changed, format_text(fixed).text


def test_fix_diff_changes_nothing_and_shows_the_edits(tmp_path: Path) -> None:
    path = tmp_path / "e202.const"
    shutil.copy(FIXTURES / "e202.const", path)
    before = path.read_text()
    result = runner.invoke(app, ["fix", "--diff", str(path)])
    assert result.exit_code == 0, result.output
    assert "+priority greet_always > no_greeting" in result.stdout
    assert path.read_text() == before


def test_a_fix_needing_a_choice_is_offered_not_applied(tmp_path: Path) -> None:
    # With no priority between the sides, which side wins `otherwise` is the author's call.
    path = tmp_path / "open.const"
    path.write_text((FIXTURES / "e203.const").read_text().replace("priority careful > helpful\n\n", ""))
    finding = next(d for d in check_file(path).diagnostics if d.code == "E203")
    assert [f.title for f in finding.fixes] == ["add `prefer helpful otherwise`", "add `prefer careful otherwise`"]
    assert not any(f.applicable for f in finding.fixes)
    result = runner.invoke(app, ["fix", str(path)])
    assert result.exit_code == 1 and "0 fixes applied" in result.output
    assert _codes(path) == ["E203"]


def test_json_diagnostics_carry_the_fix_edits(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--format", "json", str(FIXTURES / "e101.const")])
    found = json.loads(result.stdout)["diagnostics"]
    value = next(d for d in found if d["message"].startswith("`hihg`"))
    assert value["fixes"] == [
        {
            "title": "change to `high`",
            "applicable": True,
            "edits": [{"file": str(FIXTURES / "e101.const"), "line": 20, "column": 30, "end_line": 20, "end_column": 34, "new_text": "high"}],
        }
    ]
    alias = next(d for d in found if "harn" in d["message"])
    assert alias["fixes"][0]["edits"][0]["new_text"] == "harm.least_harmful"
