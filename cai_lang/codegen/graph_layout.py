"""Where each box, arrow and conflict line of `caic graph` goes, when Graphviz is not there to decide.

One row per priority tier, tier 0 on top; nothing else ever shares a row
and a row never wraps, so a row label is the tier of everything in it. Each
row is ordered to cut crossings (a few barycentre sweeps, up and down, from
declaration order) and packed left to right a gap apart; rows are centred
on the widest. Lines are routed so that none can cross a box it does not
connect:

- a line between two rows runs only through the empty band between them;
- a line that skips rows goes down through a *passage* in each row it
  crosses, a vertical segment in the gap between two boxes (or beyond the
  row's ends), chosen nearest to the straight line and spread when several
  share a gap;
- a conflict between two items of one row leaves the tops of both boxes,
  runs along the band above the row, and comes back down.

Each conflict carries a numbered badge, placed on its line at the first
spot clear of every box and badge; the legend under the graph spells out
its whole resolution. Coordinates are in points (1/72 inch), y growing
downwards. Pure Python: no drawing library is needed to lay out, and the
SVG is written from this layout directly (`graph_draw.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cai_lang.ir.model import ResolvedDeployment
from cai_lang.ir.order import PriorityGraph

FONT_PT = 9.0
CHAR_PT = 5.6  # mean advance of a 9 pt sans-serif character
BOX_H = 34.0
X_GAP = 34.0  # between neighbouring boxes: room for passages
Y_GAP = 84.0  # between rows: room for lines and badges
GUTTER = 64.0  # left of the rows, for their tier labels
MARGIN = 24.0
TOP = 78.0  # the title, and room for conflicts bowing above the first row
BADGE = 20.0
LEGEND_LINE = 14.0
CLEAR = 7.0  # the least distance between a passage and a box

Point = tuple[float, float]
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
    route: list[Point] = field(default_factory=list)
    badge: Point = (0.0, 0.0)


@dataclass
class Layout:
    nodes: dict[str, Node]
    edges: list[tuple[str, str, list[Point]]]  # higher, lower, route (last point: the arrow head)
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


def segment_hits_box(p: Point, q: Point, box: Box) -> bool:
    """Whether the segment p-q passes through the inside of `box` (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = box
    dx, dy = q[0] - p[0], q[1] - p[1]
    low, high = 0.0, 1.0
    for step, room in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if step == 0:
            if room <= 0:
                return False
            continue
        t = room / step
        if step < 0:
            low = max(low, t)
        else:
            high = min(high, t)
    return low < high


# ---------------------------------------------------------------- rows
def _order(nodes: dict[str, Node], links: list[tuple[str, str]], ranks: list[int]) -> dict[int, list[str]]:
    """Each tier's items left to right: declaration order, then barycentre sweeps."""
    rows = {tier: [n for n in nodes if nodes[n].tier == tier] for tier in ranks}
    neighbours: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in links:
        neighbours[a].append(b)
        neighbours[b].append(a)

    def place() -> None:
        for tier in ranks:
            x = 0.0
            for item in rows[tier]:
                nodes[item].x = x + nodes[item].w / 2
                x += nodes[item].w + X_GAP

    place()
    for sweep in range(6):
        sequence = ranks if sweep % 2 == 0 else list(reversed(ranks))
        for index, tier in enumerate(sequence):
            done = set(sequence[:index])
            def key(item: str, tier: int = tier, done: set = done) -> tuple[float, int]:
                seen = [nodes[o].x for o in neighbours[item] if nodes[o].tier in done]
                return (sum(seen) / len(seen) if seen else nodes[item].x, rows[tier].index(item))
            rows[tier] = sorted(rows[tier], key=key)
            place()
    return rows


def _spread(count: int, low: float, high: float) -> list[float]:
    return [low + (high - low) * (i + 1) / (count + 1) for i in range(count)]


class _Router:
    """Passages through rows, and the ports where lines leave and enter boxes."""

    def __init__(self, nodes: dict[str, Node], rows: dict[int, list[str]], ranks: list[int]):
        self.nodes, self.rows, self.ranks = nodes, rows, ranks
        self.wanted: dict[tuple[int, int], list[tuple[float, int]]] = {}  # (tier, gap) -> (desired x, line)
        self.lines: list[list] = []  # per line: its points, with ("pass", tier) placeholders

    def gaps(self, tier: int) -> list[tuple[float, float]]:
        boxes = [self.nodes[i].box for i in self.rows[tier]]
        edges = [-1e9] + [v for b in boxes for v in (b[0], b[2])] + [1e9]
        return [(edges[i] + CLEAR, edges[i + 1] - CLEAR) for i in range(0, len(edges), 2)]

    def through(self, start: Point, end: Point, upper: int, lower: int) -> list:
        """A line from `start` (row `upper`) to `end` (row `lower`), passing the rows between."""
        line: list = [start]
        between = [t for t in self.ranks if upper < t < lower]
        for tier in between:
            y = self.nodes[self.rows[tier][0]].y
            share = (y - start[1]) / max(1.0, end[1] - start[1])
            desired = start[0] + share * (end[0] - start[0])
            gaps = self.gaps(tier)
            index = min(range(len(gaps)), key=lambda i: 0 if gaps[i][0] <= desired <= gaps[i][1] else min(abs(desired - gaps[i][0]), abs(desired - gaps[i][1])))
            self.wanted.setdefault((tier, index), []).append((desired, len(self.lines)))
            line.append(("pass", tier, index))
        line.append(end)
        self.lines.append(line)
        return line

    def finish(self) -> list[list[Point]]:
        """Every line with its passages placed: spread over their gap, in the order they want."""
        placed: dict[tuple[int, int, int], float] = {}
        for (tier, index), wanted in self.wanted.items():
            low, high = self.gaps(tier)[index]
            if low < -1e8:  # left of the row: open-ended
                low = high - 18.0 * (len(wanted) + 1)
            if high > 1e8:
                high = low + 18.0 * (len(wanted) + 1)
            for x, (_desired, line) in zip(_spread(len(wanted), low, high), sorted(wanted)):
                placed[(tier, index, line)] = x
        routes = []
        for number, line in enumerate(self.lines):
            points: list[Point] = []
            for point in line:
                if isinstance(point[0], str):
                    _, tier, index = point
                    x = placed[(tier, index, number)]
                    y = self.nodes[self.rows[tier][0]].y
                    points += [(x, y - BOX_H / 2 - 1), (x, y + BOX_H / 2 + 1)]
                else:
                    points.append(point)
            routes.append(points)
        return routes


def _ports(nodes: dict[str, Node], uses: dict[tuple[str, str], list[tuple[float, int]]]) -> dict[int, float]:
    """x of each line's end on a box side ("top"/"bottom"), spread along the side in the order of the other ends."""
    found: dict[int, float] = {}
    for (item, _side), ends in uses.items():
        node = nodes[item]
        span = min(node.w - 16, 14.0 * len(ends))
        for x, (_other, line) in zip(_spread(len(ends), node.x - span / 2, node.x + span / 2) if len(ends) > 1 else [node.x], sorted(ends)):
            found[line] = x
    return found


# ---------------------------------------------------------------- the layout
def layout(deployment: ResolvedDeployment) -> Layout:
    graph = PriorityGraph(deployment.priorities)
    listed = items(deployment)
    tiers = graph.tiers(item for item, _ in listed)
    nodes = {}
    for item, kind in listed:
        weight = deployment.weights.get(item)
        label = item if weight in (None, 1.0) else f"{item}  ×{weight:g}"
        nodes[item] = Node(item, kind, tiers[item], label, w=CHAR_PT * len(label) + 20)
    ranks = sorted(set(tiers.values()))
    links = direct_edges(deployment, graph)
    rows = _order(nodes, links, ranks)

    widest = max((sum(nodes[i].w for i in row) + X_GAP * (len(row) - 1) for row in rows.values()), default=200.0)
    above: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in links:
        above[b].append(a)
    row_y = {}
    for index, tier in enumerate(ranks):
        row_y[tier] = TOP + BOX_H / 2 + index * (BOX_H + Y_GAP)
        row = rows[tier]
        x = GUTTER + MARGIN + (widest - (sum(nodes[i].w for i in row) + X_GAP * (len(row) - 1))) / 2
        for item in row:
            nodes[item].x, nodes[item].y = x + nodes[item].w / 2, row_y[tier]
            x += nodes[item].w + X_GAP
        # Slide the row under the items that outrank it, so arrows run as steeply as they can.
        pulls = [sum(nodes[a].x for a in above[i]) / len(above[i]) - nodes[i].x for i in row if above[i]]
        if pulls and index:
            room_left = nodes[row[0]].box[0] - GUTTER - MARGIN
            room_right = GUTTER + MARGIN + widest - nodes[row[-1]].box[2]
            move = min(max(sum(pulls) / len(pulls), -room_left), room_right)
            for item in row:
                nodes[item].x += move

    shown = [c for c in deployment.conflicts if c.left in nodes and c.right in nodes]
    # Ports: each line leaves the upper box's bottom and enters the lower box's top (a same-row
    # conflict uses both tops), spread along the side in the order of the other end's x.
    uses: dict[tuple[str, str], list[tuple[float, int]]] = {}
    ends: list[tuple[str, str, str, str]] = []  # per line: upper, lower, side at upper, side at lower
    for a, b in links:
        ends.append((a, b, "bottom", "top"))
    for conflict in shown:
        a, b = sorted((conflict.left, conflict.right), key=lambda i: (nodes[i].y, nodes[i].x))
        ends.append((a, b, "top" if nodes[a].y == nodes[b].y else "bottom", "top"))
    for line, (a, b, side_a, side_b) in enumerate(ends):
        uses.setdefault((a, side_a), []).append((nodes[b].x, 2 * line))
        uses.setdefault((b, side_b), []).append((nodes[a].x, 2 * line + 1))
    port = _ports(nodes, uses)

    router = _Router(nodes, rows, ranks)
    same_row: dict[int, int] = {}
    conflict_routes: list[list[Point]] = []
    for line, (a, b, side_a, _side_b) in enumerate(ends):
        na, nb = nodes[a], nodes[b]
        start = (port[2 * line], na.box[1] if side_a == "top" else na.box[3])
        end = (port[2 * line + 1], nb.box[1])
        if side_a == "top":  # a same-row conflict: up, along the band above the row, down
            level = same_row.get(na.tier, 0)
            same_row[na.tier] = level + 1
            lift = na.box[1] - 14.0 - 9.0 * (level % max(1, int((Y_GAP - 30) // 9)))
            route = [start, (start[0], lift), (end[0], lift), end]
            router.lines.append(route)
        else:
            router.through(start, end, na.tier, nb.tier)
    routes = router.finish()
    edges = [(a, b, routes[line]) for line, (a, b) in enumerate(links)]
    conflict_routes = routes[len(links) :]

    xs = [p[0] for route in routes for p in route] + [n.box[2] for n in nodes.values()]
    width = max(max(xs, default=200.0) + MARGIN, 360.0)
    shift = max(0.0, GUTTER + 8 - min([p[0] for route in routes for p in route] + [GUTTER + 8]))
    if shift:  # a passage left of every row: move everything right of the tier labels
        for node in nodes.values():
            node.x += shift
        edges = [(a, b, [(x + shift, y) for x, y in route]) for a, b, route in edges]
        conflict_routes = [[(x + shift, y) for x, y in route] for route in conflict_routes]
        width += shift
    height = max((n.box[3] for n in nodes.values()), default=60.0) + MARGIN
    result = Layout(nodes, edges, rows=[(t, row_y[t]) for t in ranks], width=width, height=height)
    _place_badges(result, shown, conflict_routes)
    return result


def _place_badges(result: Layout, shown, routes: list[list[Point]]) -> None:
    taken: list[Box] = [n.box for n in result.nodes.values()] + [(0, 0, result.width * 0.7, MARGIN + 14)]
    taken += [(0, y - 8, GUTTER - 4, y + 8) for _, y in result.rows]
    for number, (conflict, route) in enumerate(zip(shown, routes), 1):
        entry = Conflict(number, conflict.left, conflict.right, conflict_text(conflict), route=route)
        candidates = []
        for p, q in sorted(zip(route, route[1:]), key=lambda s: -abs(s[1][0] - s[0][0]) - abs(s[1][1] - s[0][1])):
            candidates += [(p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])) for t in (0.5, 0.35, 0.65, 0.2, 0.8)]
        best = None
        for x, y in candidates:
            box = (x - BADGE / 2, y - BADGE / 2, x + BADGE / 2, y + BADGE / 2)
            if box[1] > 0 and not any(_overlaps(box, other) for other in taken):
                best = (x, y)
                break
        if best is None:  # nowhere clear on the line: beside the title, where the legend names it
            best = (result.width * 0.7 + number * (BADGE + 4), MARGIN / 2 + 4)
        entry.badge = best
        taken.append(result.badge_box(entry))
        result.conflicts.append(entry)
