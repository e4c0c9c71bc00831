"""`caic graph` cannot mislead: on every deployment of every shipped constitution, no line
(priority arrow or conflict) passes through a box other than the two it connects, each tier
is exactly one row, every arrow runs down the page, and the drawing needs no extra: the SVG
and the Mermaid text are written with the core install alone (checked in a subprocess where
matplotlib and grandalf cannot be imported)."""

from __future__ import annotations

import subprocess
import sys
import xml.dom.minidom
from pathlib import Path

import pytest

from cai_lang.api import check_file
from cai_lang.codegen.graph import to_mermaid
from cai_lang.codegen.graph_layout import Layout, layout, segment_hits_box
from cai_lang.ir.resolve import resolve_deployment

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "stdlib_constitutions").glob("*.const")) + sorted(REPO.glob("examples/**/*.const"))


def _cases():
    for path in SHIPPED:
        constitution = check_file(path).constitution
        for name in constitution.deployments:
            yield pytest.param(path, name, id=f"{path.stem}-{name}")


def _lines(placed: Layout):
    yield from placed.edges
    for conflict in placed.conflicts:
        yield conflict.left, conflict.right, conflict.route


def crossings(placed: Layout) -> list[tuple[str, str, str]]:
    """(line's ends, box crossed) for every line segment through a box it does not connect."""
    found = []
    for a, b, route in _lines(placed):
        for p, q in zip(route, route[1:]):
            for item, node in placed.nodes.items():
                if item not in (a, b) and segment_hits_box(p, q, node.box):
                    found.append((a, b, item))
    return found


def test_the_intersection_test_itself_sees_a_crossing() -> None:
    box = (10.0, 10.0, 20.0, 20.0)
    assert segment_hits_box((0, 15), (30, 15), box) and segment_hits_box((15, 0), (16, 30), box)
    assert not segment_hits_box((0, 0), (30, 5), box) and not segment_hits_box((25, 0), (25, 30), box)
    assert not segment_hits_box((0, 10), (30, 10), box)  # along an edge is not through it


@pytest.mark.parametrize(("path", "name"), list(_cases()))
def test_no_line_crosses_a_box_and_one_row_per_tier(path: Path, name: str) -> None:
    deployment = resolve_deployment(check_file(path).constitution, name)
    placed = layout(deployment)
    assert crossings(placed) == []
    tiers = [tier for tier, _y in placed.rows]
    assert len(tiers) == len(set(tiers))  # no tier wraps onto a second row
    assert {node.y for node in placed.nodes.values() if node.tier == tiers[0]} == {placed.rows[0][1]}
    for node in placed.nodes.values():
        assert node.y == dict(placed.rows)[node.tier]
    assert all(placed.nodes[a].y < placed.nodes[b].y for a, b, _ in placed.edges)
    assert len(placed.conflicts) == len([c for c in deployment.conflicts if c.left in placed.nodes and c.right in placed.nodes])


def test_mermaid_has_a_subgraph_per_tier_edges_and_conflicts() -> None:
    deployment = resolve_deployment(check_file(REPO / "examples" / "medical.const").constitution, "default")
    text = to_mermaid(deployment, "riverside / default")
    assert text.splitlines()[3] == "flowchart TB"
    assert 'subgraph tier0["tier 0"]' in text and 'subgraph tier1["tier 1"]' in text
    ids = {line.split('"')[1]: line.split("[")[0].split("(")[0].strip() for line in text.splitlines() if line.startswith("    n")}
    assert f"{ids['honesty.truthful']} --> {ids['honesty.non_deceptive']}" in text
    assert f'{ids["patient_triage ×1.5"]} -. "prefer med.medication_safety when risk is medium or higher; otherwise prefer patient_triage." .- ' in text


def test_svg_and_mermaid_need_no_extra(tmp_path: Path) -> None:
    script = f"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "grandalf"):
            raise ImportError("not installed: " + name)
sys.meta_path.insert(0, Refuse())
import shutil
shutil.which = lambda name: None  # no Graphviz either
from cai_lang.cli.app import app
for out in ("x.svg", "x.mmd"):
    try:
        app(["graph", {str(REPO / 'examples' / 'medical.const')!r}, "-o", {str(tmp_path)!r} + "/" + out])
    except SystemExit as stop:
        assert not stop.code, stop.code
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    xml.dom.minidom.parse(str(tmp_path / "x.svg"))  # well-formed
    assert (tmp_path / "x.mmd").read_text().splitlines()[3] == "flowchart TB"
