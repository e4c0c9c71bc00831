"""Drawing a `graph_layout.Layout`: one list of shapes, written as SVG by hand or painted by matplotlib.

`scene` turns the layout into shapes (boxes, lines, arrow heads, badges and
texts, the legend included) once; `to_svg` writes them as SVG text with
every string escaped, so an SVG needs nothing beyond the core install, and
`draw_png` paints the same shapes with matplotlib (the `train` extra) for a
PNG. Coordinates are points, y growing downwards, as in the layout.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from html import escape
from pathlib import Path

from cai_lang.codegen.graph_layout import BADGE, FONT_PT, LEGEND_LINE, MARGIN, Layout

EDGE = "#595959"
CONFLICT = "#c0392b"
FILL = {"principle": "#dbe9f6", "rule": "#f6e3db"}
KEYS = [
    "boxes: principles; rounded: rules; ×w: weight in this deployment (when not 1); one row per priority tier",
    "arrow: the upper item outranks the lower; dashed red, numbered: a declared conflict, resolved as listed:",
]


@dataclass(frozen=True)
class Shape:
    kind: str  # "box", "line", "arrow", "badge", "text"
    points: tuple[tuple[float, float], ...]
    text: str = ""
    style: str = ""  # box: principle|rule; line: edge|conflict; text: title|label|tier|key|legend


def scene(placed: Layout, title: str) -> tuple[list[Shape], float, float]:
    """The shapes of the whole picture, its width and its height."""
    chars = max(60, int((placed.width - 2 * MARGIN) / 5.4))
    legend = [f"{c.number}  {line}" if i == 0 else f"    {line}" for c in placed.conflicts for i, line in enumerate(textwrap.wrap(c.text, chars))]
    height = placed.height + LEGEND_LINE * (len(legend) + len(KEYS) + 1) + MARGIN
    shapes = [Shape("text", ((MARGIN, MARGIN / 2 + 4),), f"{title}: priority order and conflicts", "title")]
    for _higher, _lower, route in placed.edges:
        shapes.append(Shape("line", tuple(route), style="edge"))
        shapes.append(Shape("arrow", (route[-2], route[-1]), style="edge"))
    for conflict in placed.conflicts:
        shapes.append(Shape("line", tuple(conflict.route), style="conflict"))
    for node in placed.nodes.values():
        x0, y0, x1, y1 = node.box
        shapes.append(Shape("box", ((x0, y0), (x1, y1)), style=node.kind))
        shapes.append(Shape("text", ((node.x, node.y),), node.label, "label"))
    for tier, y in placed.rows:
        shapes.append(Shape("text", ((MARGIN / 2, y),), f"tier {tier}", "tier"))
    for conflict in placed.conflicts:
        shapes.append(Shape("badge", (conflict.badge,), str(conflict.number)))
    y = placed.height + LEGEND_LINE
    for line in KEYS + legend:
        shapes.append(Shape("text", ((MARGIN, y),), line, "legend" if line[:1].isdigit() or line.startswith("    ") else "key"))
        y += LEGEND_LINE
    return shapes, placed.width, height


# ---------------------------------------------------------------- SVG
_TEXT = {
    "title": 'font-size="{s}" font-weight="bold"',
    "label": 'font-size="{s}" text-anchor="middle"',
    "tier": 'font-size="{s}" fill="#666"',
    "key": 'font-size="{s}"',
    "legend": 'font-size="{s}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace"',
}
_SIZE = {"title": FONT_PT + 2, "label": FONT_PT, "tier": FONT_PT - 1, "key": FONT_PT - 0.5, "legend": FONT_PT - 0.5}


def _path(points) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def to_svg(placed: Layout, title: str) -> str:
    shapes, width, height = scene(placed, title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}pt" height="{height:.0f}pt" viewBox="0 0 {width:.1f} {height:.1f}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width:.1f}" height="{height:.1f}" fill="white"/>',
    ]
    for shape in shapes:
        if shape.kind == "line":
            dash = ' stroke-dasharray="5,3"' if shape.style == "conflict" else ""
            colour = CONFLICT if shape.style == "conflict" else EDGE
            out.append(f'<polyline points="{_path(shape.points)}" fill="none" stroke="{colour}" stroke-width="1"{dash}/>')
        elif shape.kind == "arrow":
            (x0, y0), (x1, y1) = shape.points
            length = max(1e-6, ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)
            ux, uy = (x1 - x0) / length, (y1 - y0) / length
            head = [(x1, y1), (x1 - 8 * ux + 3.5 * uy, y1 - 8 * uy - 3.5 * ux), (x1 - 8 * ux - 3.5 * uy, y1 - 8 * uy + 3.5 * ux)]
            out.append(f'<polygon points="{_path(head)}" fill="{EDGE}"/>')
        elif shape.kind == "box":
            (x0, y0), (x1, y1) = shape.points
            rounding = ' rx="9"' if shape.style == "rule" else ""
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}"{rounding} fill="{FILL[shape.style]}" stroke="{EDGE}"/>')
        elif shape.kind == "badge":
            (x, y), = shape.points
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{BADGE / 2 - 1:.1f}" fill="{CONFLICT}"/>')
            out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{FONT_PT - 1}" font-weight="bold" fill="white" text-anchor="middle" dominant-baseline="central">{escape(shape.text)}</text>')
        else:
            (x, y), = shape.points
            attributes = _TEXT[shape.style].format(s=_SIZE[shape.style])
            out.append(f'<text x="{x:.1f}" y="{y:.1f}" {attributes} dominant-baseline="central" xml:space="preserve">{escape(shape.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- PNG
def draw_png(placed: Layout, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    shapes, width, height = scene(placed, title)
    fig = plt.figure(figsize=(width / 72, height / 72), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    for shape in shapes:
        if shape.kind == "line":
            conflict = shape.style == "conflict"
            ax.plot([p[0] for p in shape.points], [p[1] for p in shape.points], color=CONFLICT if conflict else EDGE, linestyle="--" if conflict else "-", linewidth=1, zorder=1)
        elif shape.kind == "arrow":
            ax.add_patch(FancyArrowPatch(shape.points[0], shape.points[1], arrowstyle="-|>", mutation_scale=12, color=EDGE, linewidth=1, shrinkA=0, shrinkB=0, zorder=1))
        elif shape.kind == "box":
            (x0, y0), (x1, y1) = shape.points
            style = "square,pad=0" if shape.style == "principle" else "round,pad=0,rounding_size=9"
            ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle=style, facecolor=FILL[shape.style], edgecolor=EDGE, zorder=2))
        elif shape.kind == "badge":
            (x, y), = shape.points
            ax.text(x, y, shape.text, ha="center", va="center", fontsize=FONT_PT - 1, color="white", weight="bold", zorder=5,
                    bbox={"boxstyle": "circle,pad=0.25", "fc": CONFLICT, "ec": "none"})
        else:
            (x, y), = shape.points
            ax.text(x, y, shape.text, fontsize=_SIZE[shape.style], va="center", zorder=3,
                    ha="center" if shape.style == "label" else "left", color="0.4" if shape.style == "tier" else "black",
                    weight="bold" if shape.style == "title" else "normal", family="DejaVu Sans Mono" if shape.style == "legend" else None)
    fig.savefig(out, format="png")
    plt.close(fig)
