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
from functools import cached_property
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

    @cached_property
    def reachable(self) -> dict[str, frozenset[str]]:
        """For each item, every item it outranks (directly or transitively)."""
        result: dict[str, frozenset[str]] = {}
        for start in self.successors:
            seen: set[str] = set()
            stack = list(self.successors[start])
            while stack:
                node = stack.pop()
                if node not in seen:
                    seen.add(node)
                    stack.extend(self.successors.get(node, ()))
            result[start] = frozenset(seen)
        return result

    def outranks(self, higher: str, lower: str) -> bool:
        return lower in self.reachable.get(higher, frozenset())

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
        """Tier of each item (0 = highest): the longest chain of enabled items above it."""
        enabled = list(items)
        enabled_set = set(enabled)
        above: dict[str, list[str]] = {item: [] for item in enabled}
        for higher in enabled:
            for lower in self.reachable.get(higher, ()):
                if lower in enabled_set and lower != higher:
                    above[lower].append(higher)
        tier: dict[str, int] = {}

        def depth(item: str, guard: frozenset[str]) -> int:
            if item in tier:
                return tier[item]
            parents = [p for p in above[item] if p not in guard]
            value = 0 if not parents else 1 + max(depth(p, guard | {item}) for p in parents)
            tier[item] = value
            return value

        for item in enabled:
            depth(item, frozenset())
        return tier
