"""`caic graph`: the priority order and conflicts as DOT text and as a picture."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "tests" / "fixtures" / "spec" / "spec_example.const"
runner = CliRunner()


def test_dot_has_tiers_edges_and_conflicts(tmp_path: Path) -> None:
    out = tmp_path / "order.dot"
    result = runner.invoke(app, ["graph", str(SPEC), "-d", "clinic", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith('digraph "medical / clinic"')
    assert '"duty_to_warn" -> "hipaa";' in text and '"hipaa" -> "accurate";' in text
    assert '"bedside_manner" -> "helpful";' in text  # added by the deployment
    assert '"duty_to_warn" -> "accurate";' not in text  # implied edges are left out
    assert 'style=dashed' in text and "harmless.least_harmful when" in text


def test_png_is_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "order.png"
    result = runner.invoke(app, ["graph", str(SPEC), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_and_bad_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.const"
    bad.write_text("priority a > b\n")
    assert runner.invoke(app, ["graph", str(bad), "-o", str(tmp_path / "x.dot")]).exit_code == 1
    assert runner.invoke(app, ["graph", str(SPEC), "-o", str(tmp_path / "x.pdf")]).exit_code == 2
    assert runner.invoke(app, ["graph", str(SPEC), "-d", "nowhere", "-o", str(tmp_path / "x.dot")]).exit_code == 2
