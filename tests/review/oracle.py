"""A brute-force oracle for the review semantics (section 7 of the contract),
written independently of `cai_lang.check.verdict`: it enumerates every
context and evaluates conditions directly, so the solver-backed runner and
diff can be compared with it."""

from __future__ import annotations

import itertools

from cai_lang.ir.conditions import evaluate
from cai_lang.ir.model import PrincipleDef, ResolvedDeployment
from cai_lang.ir.order import PriorityGraph


def assignments(context: dict):
    names = list(context)
    domains = [[False, True] if v.kind == "bool" else list(v.values) for v in context.values()]
    for combo in itertools.product(*domains):
        yield dict(zip(names, combo))


def in_region(deployment: ResolvedDeployment, given, values) -> bool:
    ctx = deployment.context
    return all(evaluate(a, values, ctx) for a in deployment.assumptions) and evaluate(given, values, ctx)


def applies(deployment: ResolvedDeployment, item: str, values) -> bool:
    for p in deployment.principles:
        if p.id == item:
            return evaluate(p.node.applies, values, deployment.context)
    for r in deployment.rules:
        if r.id == item:
            return evaluate(r.node.effective_condition, values, deployment.context)
    return False


def verdict(deployment: ResolvedDeployment, action: str, values) -> str:
    graph = PriorityGraph(deployment.priorities)
    live = [r for r in deployment.rules if r.action == action and applies(deployment, r.id, values)]
    if not live:
        return "allowed"
    kinds = {r.node.verdict for r in live if not any(o.node.verdict != r.node.verdict and graph.outranks(o.id, r.id) for o in live)}
    return kinds.pop() if len(kinds) == 1 else "contradiction"


def winner(deployment: ResolvedDeployment, x: str, y: str, values) -> str:
    ctx = deployment.context
    sides = set()
    for conflict in deployment.conflicts:
        if {conflict.left, conflict.right} != {x, y}:
            continue
        any_when = any(evaluate(c.condition, values, ctx) for c in conflict.clauses if c.condition is not None)
        for clause in conflict.clauses:
            if clause.condition is None and not any_when or clause.condition is not None and evaluate(clause.condition, values, ctx):
                sides.add(clause.side)
    if len(sides) == 2:
        return "ambiguous"
    if sides:
        return sides.pop()
    graph = PriorityGraph(deployment.priorities)
    return x if graph.outranks(x, y) else y if graph.outranks(y, x) else "none"


def holds(deployment: ResolvedDeployment, expect, values) -> bool:
    """Whether one resolved expectation (`ExpectDef`) holds in one context."""
    kind = expect.node.kind
    if kind in ("never", "always", "allowed"):
        return verdict(deployment, expect.target, values) == kind
    if kind == "applies":
        return applies(deployment, expect.target, values) != expect.node.negated
    if kind == "over":
        return winner(deployment, expect.target, expect.other, values) == expect.target
    raise ValueError(kind)


def is_principle(item) -> bool:
    return isinstance(item, PrincipleDef)
