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


def _deployment(path: Path, name: str):
    from cai_lang.api import check_file
    from cai_lang.ir.resolve import resolve_deployment

    return resolve_deployment(check_file(path, deployment=name).constitution, name)


@pytest.mark.parametrize("source, name", [(SPEC, "clinic"), (REPO / "examples" / "medical.const", "after_hours"), (REPO / "stdlib_constitutions" / "cai_2022.const", "default")])
def test_layout_keeps_boxes_and_badges_apart_and_spells_out_every_condition(source: Path, name: str) -> None:
    from cai_lang.codegen.graph_layout import _overlaps, layout

    deployment = _deployment(source, name)
    placed = layout(deployment)
    boxes = [n.box for n in placed.nodes.values()] + [placed.badge_box(c) for c in placed.conflicts]
    clashes = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if _overlaps(a, b, pad=0)]
    assert not clashes
    assert set(placed.nodes) == {p.id for p in deployment.principles} | {r.id for r in deployment.rules}
    # Tier 0 on top: every arrow goes down the page.
    assert all(placed.nodes[a].y < placed.nodes[b].y for a, b, _ in placed.edges)
    shown = [c for c in deployment.conflicts if c.left in placed.nodes and c.right in placed.nodes]
    assert len(placed.conflicts) == len(shown)
    for drawn, conflict in zip(placed.conflicts, shown):
        assert "..." not in drawn.text and drawn.left in drawn.text and drawn.right in drawn.text
        assert all(clause.side in drawn.text for clause in conflict.clauses)


def test_svg_without_graphviz_has_the_full_conditions(tmp_path: Path, monkeypatch) -> None:
    from cai_lang.codegen import graph

    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    out = tmp_path / "order.svg"
    result = runner.invoke(app, ["graph", str(REPO / "examples" / "medical.const"), "-o", str(out)])
    assert result.exit_code == 0 and "(caic)" in result.output, result.output
    svg = out.read_text()
    assert "when risk is medium or higher; otherwise prefer patient_triage" in svg.replace("&gt;", ">")


def test_png_without_graphviz_is_drawn_by_matplotlib(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    from cai_lang.codegen import graph

    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    out = tmp_path / "order.png"
    result = runner.invoke(app, ["graph", str(REPO / "examples" / "medical.const"), "-o", str(out)])
    assert result.exit_code == 0 and "(matplotlib)" in result.output, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
