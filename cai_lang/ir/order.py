"""The priority order of a deployment as a graph: edges, reachability, cycles, tiers.

All `priority` chains of a deployment form one relation (`a > b`). The
checker uses it to find cycles (E201) and to decide whether a priority
resolves a rule contradiction or contradicts a conflict clause; the compiler
uses it to place principles and rules into tiers (tier 0 outranks tier 1).
Reachability is computed over every declared item, so `a > b > c` still
ranks `a` above `c` when `b` is disabled; tiers are then taken over the
enabled items only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from cai_lang.ir.model import PriorityDef


@dataclass(frozen=True)
class Edge:
    higher: str
    lower: str
    priority: PriorityDef
    index: int  # position of `higher` in the chain


class PriorityGraph:
    def __init__(self, priorities: Iterable[PriorityDef]):
        self.edges: list[Edge] = []
        for priority in priorities:
            for index, (higher, lower) in enumerate(zip(priority.members, priority.members[1:])):
                self.edges.append(Edge(higher, lower, priority, index))
        self.successors: dict[str, list[str]] = {}
        for edge in self.edges:
            self.successors.setdefault(edge.higher, []).append(edge.lower)
            self.successors.setdefault(edge.lower, [])
        self._below: dict[str, frozenset[str]] = {}

    def below(self, item: str) -> frozenset[str]:
        """Every item `item` outranks, directly or transitively (memoised per item)."""
        cached = self._below.get(item)
        if cached is not None:
            return cached
        seen: set[str] = set()
        stack = list(self.successors.get(item, ()))
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            known = self._below.get(node)
            if known is not None:
                seen.update(known)
            else:
                stack.extend(self.successors.get(node, ()))
        result = frozenset(seen)
        self._below[item] = result
        return result

    def outranks(self, higher: str, lower: str) -> bool:
        return lower in self.below(higher)

    def path(self, higher: str, lower: str) -> list[str] | None:
        """One chain of items from `higher` down to `lower`, for messages."""
        parents: dict[str, str] = {}
        frontier = [higher]
        seen = {higher}
        while frontier:
            node = frontier.pop(0)
            for following in self.successors.get(node, ()):
                if following in seen:
                    continue
                parents[following] = node
                if following == lower:
                    chain = [lower]
                    while chain[-1] != higher:
                        chain.append(parents[chain[-1]])
                    return list(reversed(chain))
                seen.add(following)
                frontier.append(following)
        return None

    def cycles(self) -> list[list[str]]:
        """One representative cycle per strongly connected component with a loop."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        components: list[list[str]] = []
        counter = [0]

        def connect(node: str) -> None:
            # Tarjan's algorithm; chains are short, so recursion depth is fine.
            index[node] = low[node] = counter[0]
            counter[0] += 1
            stack.append(node)
            on_stack.add(node)
            for following in self.successors.get(node, ()):
                if following not in index:
                    connect(following)
                    low[node] = min(low[node], low[following])
                elif following in on_stack:
                    low[node] = min(low[node], index[following])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)

        for node in self.successors:
            if node not in index:
                connect(node)
        cycles = []
        for component in components:
            members = set(component)
            if len(component) == 1 and component[0] not in self.successors.get(component[0], ()):
                continue
            start = min(component)
            # The shortest way from `start` back to itself inside the component.
            parents: dict[str, str] = {}
            frontier = [start]
            while frontier and start not in parents:
                node = frontier.pop(0)
                for following in sorted(self.successors[node]):
                    if following in members and following not in parents:
                        parents[following] = node
                        frontier.append(following)
            cycle = [start]
            while parents[cycle[-1]] != start:
                cycle.append(parents[cycle[-1]])
            cycle.append(start)
            cycles.append(list(reversed(cycle)))
        return cycles

    def tiers(self, items: Iterable[str]) -> dict[str, int]:
        """Tier of each item (0 = highest): how many enabled items stand on the longest chain above it.

        Items not in `items` (disabled ones) pass the order through without
        counting, so `a > b > c` with `b` disabled puts `c` right below `a`.
        Items on a cycle (already an error) are placed as if the cycle's
        closing edge were absent.
        """
        enabled = list(dict.fromkeys(items))
        enabled_set = set(enabled)
        predecessors: dict[str, list[str]] = {}
        for edge in self.edges:
            predecessors.setdefault(edge.lower, []).append(edge.higher)
        level: dict[str, int] = {}
        for start in enabled:
            if start in level:
                continue
            # Iterative depth-first evaluation; `active` marks the current path.
            stack: list[tuple[str, int]] = [(start, 0)]
            active: set[str] = {start}
            while stack:
                node, position = stack[-1]
                parents = predecessors.get(node, [])
                if position < len(parents):
                    stack[-1] = (node, position + 1)
                    parent = parents[position]
                    if parent not in level and parent not in active:
                        active.add(parent)
                        stack.append((parent, 0))
                    continue
                stack.pop()
                active.discard(node)
                level[node] = max(
                    (level[p] + (1 if p in enabled_set else 0) for p in parents if p in level),
                    default=0,
                )
        return {item: level[item] for item in enabled}
