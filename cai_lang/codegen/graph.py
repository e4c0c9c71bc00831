"""A deployment's priority order and declared conflicts as a picture.

`to_dot` writes Graphviz DOT: principles and rules as nodes placed in rows
by priority tier (tier 0 on top), an arrow from each item to the items it
directly outranks, and a dashed edge for each declared conflict labelled
with its whole resolution. `write_graph` picks the format from the file
name: `.dot` is written directly; `.svg` and `.png` are drawn by Graphviz's
`dot` when it is installed, and otherwise by matplotlib from the layered
layout of `cai_lang.codegen.graph_layout` (grandalf), with numbered conflict
badges and a legend spelling out every condition, so a picture never needs
more than the `train` extra.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cai_lang.codegen.graph_layout import (
    FONT_PT,
    LEGEND_LINE,
    MARGIN,
    conflict_text,
    direct_edges,
    items,
    layout,
)
from cai_lang.files import write_atomic
from cai_lang.ir.model import ResolvedDeployment
from cai_lang.ir.order import PriorityGraph


def _dot_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(deployment: ResolvedDeployment, title: str) -> str:
    graph = PriorityGraph(deployment.priorities)
    listed = items(deployment)
    tiers = graph.tiers(item for item, _ in listed)
    enabled = {item for item, _ in listed}
    lines = [
        f'digraph "{_dot_string(title)}" {{',
        "  rankdir=TB; nodesep=0.4; ranksep=0.8;",
        f'  label="{_dot_string(title)}: priority order (arrows point to what an item outranks) and conflicts (dashed)";',
        '  node [fontname="Helvetica", fontsize=11]; edge [fontname="Helvetica", fontsize=9];',
    ]
    for tier in sorted(set(tiers.values())):
        members = [item for item, _ in listed if tiers[item] == tier]
        lines.append("  { rank=same; " + " ".join(f'"{m}";' for m in members) + " }")
    for item, kind in listed:
        shape = "box" if kind == "principle" else "octagon"
        weight = f"\\nweight {deployment.weights[item]:g}" if item in deployment.weights else ""
        lines.append(f'  "{item}" [shape={shape}, label="{item}{weight}\\ntier {tiers[item]}"];')
    for higher, lower in direct_edges(deployment, graph):
        lines.append(f'  "{higher}" -> "{lower}";')
    for conflict in deployment.conflicts:
        if conflict.left in enabled and conflict.right in enabled:
            label = _dot_string(conflict_text(conflict).split(": ", 1)[-1])
            lines.append(f'  "{conflict.left}" -> "{conflict.right}" [style=dashed, color=red, fontcolor=red, dir=none, constraint=false, label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _draw_with_matplotlib(deployment: ResolvedDeployment, title: str, out: Path) -> None:
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, PathPatch
    from matplotlib.path import Path as CurvePath

    placed = layout(deployment)
    chars = max(60, int((placed.width - 2 * MARGIN) / 5.4))
    legend = [f"{c.number}  {line}" if i == 0 else f"    {line}" for c in placed.conflicts for i, line in enumerate(textwrap.wrap(c.text, chars))]
    keys = ["boxes: principles; rounded: rules; ×w: weight in this deployment (when not 1)",
            "arrow: the upper item outranks the lower; dashed red, numbered: a declared conflict, resolved as listed:"]
    height = placed.height + LEGEND_LINE * (len(legend) + len(keys) + 1) + MARGIN
    fig = plt.figure(figsize=(placed.width / 72, height / 72), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, placed.width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.text(MARGIN, MARGIN / 2 + 4, f"{title}: priority order and conflicts", fontsize=FONT_PT + 2, weight="bold", va="center")
    for higher, lower, route in placed.edges:
        if len(route) > 2:
            ax.plot([p[0] for p in route[:-1]], [p[1] for p in route[:-1]], color="0.35", linewidth=1)
        ax.add_patch(FancyArrowPatch(route[-2], route[-1], arrowstyle="-|>", mutation_scale=12, color="0.35", linewidth=1, shrinkA=0, shrinkB=1))
    for conflict in placed.conflicts:
        a, b = placed.nodes[conflict.left], placed.nodes[conflict.right]
        curve = CurvePath([(a.x, a.y), conflict.control, (b.x, b.y)], [CurvePath.MOVETO, CurvePath.CURVE3, CurvePath.CURVE3])
        ax.add_patch(PathPatch(curve, fill=False, edgecolor="#c0392b", linestyle="--", linewidth=1, zorder=1))
    for node in placed.nodes.values():
        x0, y0, x1, y1 = node.box
        style = "square,pad=0" if node.kind == "principle" else "round,pad=0,rounding_size=9"
        fill = "#dbe9f6" if node.kind == "principle" else "#f6e3db"
        ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle=style, facecolor=fill, edgecolor="0.35", zorder=2))
        ax.text(node.x, node.y, node.label, ha="center", va="center", fontsize=FONT_PT, zorder=3)
    for tier, y in placed.rows:
        ax.text(MARGIN / 2, y, f"tier {tier}", fontsize=FONT_PT - 1, color="0.4", va="center")
    for conflict in placed.conflicts:
        x, y = conflict.badge
        ax.text(x, y, str(conflict.number), ha="center", va="center", fontsize=FONT_PT - 1, color="white", weight="bold", zorder=5,
                bbox={"boxstyle": "circle,pad=0.25", "fc": "#c0392b", "ec": "none"})
    y = placed.height + LEGEND_LINE
    for line in keys + legend:
        ax.text(MARGIN, y, line, fontsize=FONT_PT - 0.5, va="center", family="DejaVu Sans Mono" if line[:1].isdigit() or line.startswith("    ") else None)
        y += LEGEND_LINE
    fig.savefig(out, format=out.suffix[1:])
    plt.close(fig)


def write_graph(deployment: ResolvedDeployment, title: str, out: Path) -> str:
    """Write the picture to `out`; returns which renderer drew it."""
    suffix = out.suffix.lower()
    dot_text = to_dot(deployment, title)
    if suffix in (".dot", ".gv"):
        write_atomic(out, dot_text)
        return "dot text"
    if suffix not in (".svg", ".png"):
        raise ValueError(f"cannot draw `{out.name}`: use a .dot, .svg or .png file name")
    dot = shutil.which("dot")
    if dot is not None:
        subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(out)], input=dot_text, text=True, check=True, timeout=60)
        return "graphviz"
    try:
        _draw_with_matplotlib(deployment, title, out)
    except ImportError as exc:
        raise ValueError(
            f"drawing {suffix} needs Graphviz (`dot`) or matplotlib (pip install 'caic[train]'); write a .dot file instead"
        ) from exc
    return "matplotlib"
