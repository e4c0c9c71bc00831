"""A deployment's priority order and declared conflicts as a picture.

`to_dot` writes Graphviz DOT: principles and rules as nodes placed in rows
by priority tier (tier 0 on top), an arrow from each item to the items it
directly outranks, and a dashed edge for each declared conflict labelled
with its whole resolution; `to_mermaid` writes the same as a Mermaid
flowchart (rendered natively by GitHub and most documentation tools).
`write_graph` picks the format from the file name: `.dot` and `.mmd` are
written directly; `.svg` and `.png` are drawn by Graphviz's `dot` when it is
installed, and otherwise from the layout of `cai_lang.codegen.graph_layout`
(one row per tier, lines routed clear of every box they do not connect),
with numbered conflict badges and a legend spelling out every condition:
SVG by `graph_draw.to_svg` with nothing beyond the core install, PNG by
matplotlib (the `train` extra).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cai_lang.codegen.graph_draw import draw_png, to_svg
from cai_lang.codegen.graph_layout import conflict_text, direct_edges, items, layout
from cai_lang.files import write_atomic
from cai_lang.ir.model import ResolvedDeployment
from cai_lang.ir.order import PriorityGraph


def _dot_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _parts(deployment: ResolvedDeployment):
    """What every text format draws: the items with their kinds, their tiers, the direct
    priority edges, and each shown conflict's sides with its resolution."""
    graph = PriorityGraph(deployment.priorities)
    listed = items(deployment)
    tiers = graph.tiers(item for item, _ in listed)
    enabled = {item for item, _ in listed}
    conflicts = [(c.left, c.right, conflict_text(c).split(": ", 1)[-1]) for c in deployment.conflicts if c.left in enabled and c.right in enabled]
    return listed, tiers, direct_edges(deployment, graph), conflicts


def to_dot(deployment: ResolvedDeployment, title: str) -> str:
    listed, tiers, edges, conflicts = _parts(deployment)
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
    lines += [f'  "{higher}" -> "{lower}";' for higher, lower in edges]
    for left, right, text in conflicts:
        lines.append(f'  "{left}" -> "{right}" [style=dashed, color=red, fontcolor=red, dir=none, constraint=false, label="{_dot_string(text)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes and markup characters as entity codes."""
    return "".join(f"#{ord(c)};" if c in '"#<>&`' else c for c in text)


def to_mermaid(deployment: ResolvedDeployment, title: str) -> str:
    """A Mermaid flowchart: one subgraph per tier (top to bottom), arrows for the direct priority
    order, a dotted line labelled with its whole resolution for each conflict."""
    listed, tiers, edges, conflicts = _parts(deployment)
    ids = {item: f"n{i}" for i, (item, _) in enumerate(listed)}
    lines = ["---", f"title: {_mermaid_text(title)}: priority order and conflicts", "---", "flowchart TB"]
    for tier in sorted(set(tiers.values())):
        lines.append(f'  subgraph tier{tier}["tier {tier}"]')
        lines.append("    direction LR")
        for item, kind in listed:
            if tiers[item] != tier:
                continue
            weight = deployment.weights.get(item)
            label = _mermaid_text(item if weight in (None, 1.0) else f"{item} ×{weight:g}")
            lines.append(f'    {ids[item]}["{label}"]' if kind == "principle" else f'    {ids[item]}("{label}")')
        lines.append("  end")
    lines += [f"  {ids[higher]} --> {ids[lower]}" for higher, lower in edges]
    lines += [f'  {ids[left]} -. "{_mermaid_text(text)}" .- {ids[right]}' for left, right, text in conflicts]
    lines.append("  classDef rule fill:#f6e3db,stroke:#595959")
    lines.append("  classDef principle fill:#dbe9f6,stroke:#595959")
    for kind in ("principle", "rule"):
        members = [ids[item] for item, k in listed if k == kind]
        if members:
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def write_graph(deployment: ResolvedDeployment, title: str, out: Path) -> str:
    """Write the picture to `out`; returns which renderer drew it."""
    suffix = out.suffix.lower()
    if suffix in (".dot", ".gv"):
        write_atomic(out, to_dot(deployment, title))
        return "dot text"
    if suffix in (".mmd", ".mermaid"):
        write_atomic(out, to_mermaid(deployment, title))
        return "mermaid text"
    if suffix not in (".svg", ".png"):
        raise ValueError(f"cannot draw `{out.name}`: use a .dot, .mmd, .svg or .png file name")
    dot = shutil.which("dot")
    if dot is not None:
        subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(out)], input=to_dot(deployment, title), text=True, check=True, timeout=60)
        return "graphviz"
    placed = layout(deployment)
    if suffix == ".svg":
        write_atomic(out, to_svg(placed, title))
        return "caic"
    try:
        draw_png(placed, title, out)
    except ImportError as exc:
        raise ValueError(
            "drawing .png without Graphviz (`dot`) needs matplotlib (pip install 'caic[train]'); write a .svg, .mmd or .dot file instead"
        ) from exc
    return "matplotlib"
