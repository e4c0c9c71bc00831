"""A deployment's priority order and declared conflicts as a picture.

`to_dot` writes Graphviz DOT: principles and rules as nodes placed in rows
by priority tier (tier 0 on top), an arrow from each item to the items it
directly outranks, and a dashed edge for each declared conflict labelled
with how it resolves. `write_graph` picks the format from the file name:
`.dot` is written directly; `.svg` and `.png` are drawn by Graphviz's `dot`
when it is installed, and otherwise by matplotlib with the same layered
layout, so a picture never needs more than the `train` extra.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cai_lang.ir.model import ResolvedDeployment
from cai_lang.ir.order import PriorityGraph


def _items(deployment: ResolvedDeployment) -> list[tuple[str, str]]:
    return [(p.id, "principle") for p in deployment.principles] + [(r.id, "rule") for r in deployment.rules]


def _direct_edges(deployment: ResolvedDeployment, graph: PriorityGraph) -> list[tuple[str, str]]:
    """Edges between enabled items, through disabled ones, without implied shortcuts."""
    enabled = {item for item, _ in _items(deployment)}
    pairs = {(a, b) for a in enabled for b in graph.below(a) if b in enabled and a != b}
    # Transitive reduction: drop a > c when some enabled b has a > b > c.
    return sorted((a, c) for a, c in pairs if not any((a, b) in pairs and (b, c) in pairs for b in enabled))


def _conflict_label(conflict) -> str:
    parts = []
    for clause in conflict.clauses:
        parts.append(f"{clause.side} otherwise" if clause.condition is None else f"{clause.side} when ...")
    return "; ".join(parts) or "undecided"


def to_dot(deployment: ResolvedDeployment, title: str) -> str:
    graph = PriorityGraph(deployment.priorities)
    items = _items(deployment)
    tiers = graph.tiers(item for item, _ in items)
    enabled = {item for item, _ in items}
    lines = [
        f'digraph "{title}" {{',
        "  rankdir=TB;",
        f'  label="{title}: priority order (arrows point to what an item outranks) and conflicts (dashed)";',
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    for tier in sorted(set(tiers.values())):
        members = [item for item, _ in items if tiers[item] == tier]
        lines.append("  { rank=same; " + " ".join(f'"{m}";' for m in members) + " }")
    for item, kind in items:
        shape = "box" if kind == "principle" else "octagon"
        weight = f"\\nweight {deployment.weights[item]:g}" if item in deployment.weights else ""
        lines.append(f'  "{item}" [shape={shape}, label="{item}{weight}\\ntier {tiers[item]}"];')
    for higher, lower in _direct_edges(deployment, graph):
        lines.append(f'  "{higher}" -> "{lower}";')
    for conflict in deployment.conflicts:
        if conflict.left in enabled and conflict.right in enabled:
            label = _conflict_label(conflict).replace('"', "'")
            lines.append(f'  "{conflict.left}" -> "{conflict.right}" [style=dashed, color=red, dir=none, constraint=false, label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _draw_with_matplotlib(deployment: ResolvedDeployment, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graph = PriorityGraph(deployment.priorities)
    items = _items(deployment)
    tiers = graph.tiers(item for item, _ in items)
    rows: dict[int, list[str]] = {}
    for item, _ in items:
        rows.setdefault(tiers[item], []).append(item)
    width = max(len(r) for r in rows.values()) if rows else 1
    position = {}
    for tier, members in rows.items():
        for index, item in enumerate(members):
            position[item] = ((index + 1) / (len(members) + 1) * width, -tier)
    kinds = dict(items)
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * width), max(3, 1.4 * (len(rows) + 1))))
    for higher, lower in _direct_edges(deployment, graph):
        ax.annotate("", xy=position[lower], xytext=position[higher], arrowprops={"arrowstyle": "-|>", "color": "0.3", "shrinkA": 10, "shrinkB": 10, "mutation_scale": 14})
    for conflict in deployment.conflicts:
        if conflict.left in position and conflict.right in position:
            (x1, y1), (x2, y2) = position[conflict.left], position[conflict.right]
            ax.plot([x1, x2], [y1, y2], linestyle="--", color="tab:red")
            ax.text((x1 + x2) / 2, (y1 + y2) / 2, _conflict_label(conflict), color="tab:red", fontsize=7, ha="center")
    for item, (x, y) in position.items():
        style = "square,pad=0.4" if kinds[item] == "principle" else "round,pad=0.4"
        color = "#dbe9f6" if kinds[item] == "principle" else "#f6e3db"
        ax.text(x, y, item, ha="center", va="center", fontsize=8, bbox={"boxstyle": style, "fc": color, "ec": "0.4"})
    ax.set_xlim(0, width + 0.5)
    ax.set_ylim(-(max(rows, default=0) + 0.7), 0.7)
    ax.set_yticks([-t for t in sorted(rows)], [f"tier {t}" for t in sorted(rows)])
    ax.set_xticks([])
    ax.set_title(f"{title}: priority order (arrows point down the order) and conflicts (dashed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, format=out.suffix[1:])
    plt.close(fig)


def write_graph(deployment: ResolvedDeployment, title: str, out: Path) -> str:
    """Write the picture to `out`; returns which renderer drew it."""
    suffix = out.suffix.lower()
    dot_text = to_dot(deployment, title)
    if suffix in (".dot", ".gv"):
        out.write_text(dot_text, encoding="utf-8")
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
