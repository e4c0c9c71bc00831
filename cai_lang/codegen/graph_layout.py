"""Where each box, arrow and conflict badge of `caic graph` goes, when Graphviz is not there to decide.

The layered (Sugiyama) layout comes from grandalf, a pure-Python library:
its layers are the priority tiers (an invisible root above every tier-0
item makes the whole deployment one graph, so isolated items are placed
too), and its crossing reduction orders each layer. Boxes are sized from
their text, and a final sweep per tier keeps neighbours a gap apart, so no
two boxes touch. Conflicts are not drawn as labels on their lines, where
they would overlap: each gets a numbered badge placed along its curve at
the first spot clear of every box and badge, and the full resolution
(every `prefer ... when ...` clause) is written in a legend under the
graph. Coordinates are in points (1/72 inch), y growing downwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cai_lang.ir.model import ResolvedDeployment
from cai_lang.ir.order import PriorityGraph

FONT_PT = 9.0
CHAR_PT = 5.6  # mean advance of a 9 pt sans-serif character
BOX_H = 34.0
X_GAP = 22.0
Y_GAP = 70.0
ROW_GAP = 26.0  # between the rows of one wrapped tier
MAX_ROW = 1000.0
GUTTER = 64.0  # left of the rows, for their tier labels
MARGIN = 24.0
BADGE = 20.0
LEGEND_LINE = 14.0

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass
class Node:
    id: str
    kind: str  # "principle" or "rule"
    tier: int
    label: str
    x: float = 0.0  # centre
    y: float = 0.0
    w: float = 0.0
    h: float = BOX_H

    @property
    def box(self) -> Box:
        return (self.x - self.w / 2, self.y - self.h / 2, self.x + self.w / 2, self.y + self.h / 2)


@dataclass
class Conflict:
    number: int
    left: str
    right: str
    text: str  # the whole resolution, for the legend
    control: tuple[float, float] = (0.0, 0.0)  # quadratic Bézier control point
    badge: tuple[float, float] = (0.0, 0.0)


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[tuple[str, str, list[tuple[float, float]]]]  # higher, lower, route
    rows: list[tuple[int, float]] = field(default_factory=list)  # (tier, y) of each row
    conflicts: list[Conflict] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0  # of the graph, above the legend

    def badge_box(self, conflict: Conflict) -> Box:
        x, y = conflict.badge
        return (x - BADGE / 2, y - BADGE / 2, x + BADGE / 2, y + BADGE / 2)


def items(deployment: ResolvedDeployment) -> list[tuple[str, str]]:
    return [(p.id, "principle") for p in deployment.principles] + [(r.id, "rule") for r in deployment.rules]


def direct_edges(deployment: ResolvedDeployment, graph: PriorityGraph) -> list[tuple[str, str]]:
    """Edges between enabled items, through disabled ones, without implied shortcuts."""
    enabled = {item for item, _ in items(deployment)}
    pairs = {(a, b) for a in enabled for b in graph.below(a) if b in enabled and a != b}
    # Transitive reduction: drop a > c when some enabled b has a > b > c.
    return sorted((a, c) for a, c in pairs if not any((a, b) in pairs and (b, c) in pairs for b in enabled))


def conflict_text(conflict) -> str:
    """Every clause of a conflict's resolution, as the compiler words it (without the code quotes)."""
    from cai_lang.codegen.compiler import conflict_entry

    return conflict_entry(conflict).resolution.replace("`", "")


def _overlaps(a: Box, b: Box, pad: float = 2.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


class _View:
    """What grandalf reads (w, h) and writes (xy, and the route of an edge)."""

    def __init__(self, w: float = 0.0, h: float = 0.0):
        self.w, self.h, self.xy, self.path = w, h, (0.0, 0.0), []

    def setpath(self, points) -> None:
        self.path = [tuple(p) for p in points]


def layout(deployment: ResolvedDeployment) -> Layout:
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout

    graph = PriorityGraph(deployment.priorities)
    listed = items(deployment)
    tiers = graph.tiers(item for item, _ in listed)
    nodes = {}
    for item, kind in listed:
        weight = deployment.weights.get(item)
        label = item if weight in (None, 1.0) else f"{item}  ×{weight:g}"
        nodes[item] = Node(item, kind, tiers[item], label, w=CHAR_PT * len(label) + 20)
    vertices = {item: Vertex(item) for item in nodes}
    root = Vertex(None)
    for item, vertex in vertices.items():
        vertex.view = _View(nodes[item].w, BOX_H)
    root.view = _View(1.0, BOX_H)
    links = direct_edges(deployment, graph)
    edges = [Edge(vertices[a], vertices[b]) for a, b in links]
    edges += [Edge(root, vertices[item]) for item in nodes if tiers[item] == min(tiers.values())]
    for edge in edges:
        edge.view = _View()
    sugiyama = SugiyamaLayout(Graph([root, *vertices.values()], edges).C[0])
    sugiyama.xspace, sugiyama.yspace = X_GAP, Y_GAP
    sugiyama.init_all(roots=[root])
    sugiyama.draw()

    # Rows by tier; grandalf's x gives the order. A tier wider than MAX_ROW wraps onto more rows,
    # and each row is packed left to right a gap apart, so no two boxes touch.
    y = MARGIN + 28 + BOX_H / 2
    rows: list[tuple[int, float]] = []
    for tier in sorted(set(tiers.values())):
        ordered = sorted((n for n in nodes.values() if n.tier == tier), key=lambda n: vertices[n.id].view.xy[0])
        x = GUTTER
        for n, node in enumerate(ordered):
            if n and x + node.w > GUTTER + MAX_ROW:
                x, y = GUTTER, y + BOX_H + ROW_GAP
            node.x, node.y = x + node.w / 2, y
            x += node.w + X_GAP
            if not rows or rows[-1][1] != y:
                rows.append((tier, y))
        y += BOX_H + Y_GAP
    width = max((n.box[2] for n in nodes.values()), default=200.0) + MARGIN
    routes = []
    for (a, b), edge in zip(links, edges):
        inner = [(x, nodes[a].y + (y - vertices[a].view.xy[1]) * (nodes[b].y - nodes[a].y) / max(1.0, vertices[b].view.xy[1] - vertices[a].view.xy[1]))
                 for x, y in edge.view.path[1:-1]]
        routes.append((a, b, [(nodes[a].x, nodes[a].box[3]), *inner, (nodes[b].x, nodes[b].box[1])]))
    result = Layout(nodes, routes, rows=rows, width=max(width, 360.0), height=max((n.box[3] for n in nodes.values()), default=60.0) + MARGIN)
    _place_conflicts(result, deployment)
    return result


def _place_conflicts(result: Layout, deployment: ResolvedDeployment) -> None:
    # The title line and the tier labels are taken too.
    taken: list[Box] = [n.box for n in result.nodes.values()] + [(0, 0, result.width * 0.6, MARGIN + 12)]
    taken += [(0, y - 8, GUTTER - 4, y + 8) for _, y in result.rows]
    shown = [c for c in deployment.conflicts if c.left in result.nodes and c.right in result.nodes]
    for number, conflict in enumerate(shown, 1):
        a, b = result.nodes[conflict.left], result.nodes[conflict.right]
        (x1, y1), (x2, y2) = (a.x, a.y), (b.x, b.y)
        entry = Conflict(number, conflict.left, conflict.right, conflict_text(conflict))
        best = None
        for bend in (0.25, -0.25, 0.45, -0.45, 0.7, -0.7, 1.0, -1.0, 1.4, -1.4):
            # Same-row conflicts bow above the row, so they do not run through the boxes between them.
            sign = -1.0 if abs(y1 - y2) < 1 and bend * (x2 - x1) < 0 else 1.0
            cx, cy = (x1 + x2) / 2 + bend * (y2 - y1) * sign, (y1 + y2) / 2 - bend * (x2 - x1) * sign
            for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78):
                px = (1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t * t * x2
                py = (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t * t * y2
                box = (px - BADGE / 2, py - BADGE / 2, px + BADGE / 2, py + BADGE / 2)
                if box[1] > 0 and not any(_overlaps(box, other) for other in taken):
                    best = ((cx, cy), (px, py))
                    break
            if best:
                break
        if best is None:  # nowhere clear on any curve: put the badge in the margin above the graph
            best = (((x1 + x2) / 2, (y1 + y2) / 2), (result.width * 0.6 + number * (BADGE + 4), MARGIN / 2 + 4))
        entry.control, entry.badge = best
        taken.append(result.badge_box(entry))
        result.conflicts.append(entry)
