"""The context regions a constitution distinguishes, found by its solver.

A *region* is a set of contexts (assignments of the context variables)
inside one deployment's assumptions, named after the part of the
constitution that draws it:

- `rule`: where a rule applies (its effective condition), and `boundary`:
  the contexts just outside it, where the rule does not apply but changing
  one context variable would make it apply;
- `principle`: where a principle applies (its `applies when`, or every
  context when it has none);
- `clause`: where a conflict clause matches while both sides of the
  conflict apply (an `otherwise` clause matches where no `when` clause does);
- `deployment`: each deployment's assumptions;
- `meeting`: where two conditional items that interact (rules on one
  action, items a priority orders, the two sides of a conflict) both apply,
  when that corner is a proper part of each one's region.

Each region is built twice from the same IR conditions: as a z3 formula
through the checker's own encoding (`check.verdict.Semantics`,
`check.view.DeploymentView`), which finds the witness, and as a predicate
on one concrete context (`ir.conditions.evaluate`), which tests compare
against brute-force enumeration. Only regions with a witness are listed;
the empty ones are kept apart (`RegionMap.empty`). Descriptions come from
the compiled bundle's wording, so they say what the trainer is told.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Mapping

from cai_lang import api
from cai_lang.check import CheckResult
from cai_lang.check.verdict import Semantics, item_condition
from cai_lang.check.view import DeploymentView
from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import evaluate
from cai_lang.ir.model import ContextVariable
from cai_lang.ir.resolve import resolve_deployment

Values = Mapping[str, "bool | str"]
KINDS = ("rule", "boundary", "principle", "clause", "deployment", "meeting")


@dataclass
class Region:
    id: str
    kind: str
    targets: tuple[str, ...]  # the rules, principles or deployment it is about
    description: str
    witness: dict[str, "bool | str"] | None
    formula: object = field(repr=False, default=None)  # z3, in the deployment's encoding
    holds: Callable[[Values], bool] = field(repr=False, default=lambda values: True)  # on one context, without z3

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "targets": list(self.targets), "description": self.description, "witness": self.witness}


@dataclass
class RegionMap:
    constitution: str
    deployment: str
    content_hash: str
    context: dict[str, ContextVariable]
    regions: list[Region]
    empty: list[Region]
    view: DeploymentView = field(repr=False)

    def by_id(self) -> dict[str, Region]:
        return {r.id: r for r in self.regions}

    def entails(self, region: Region, labels: Values) -> bool:
        """Whether every context that agrees with `labels` lies in the region (the labels reach it for sure)."""
        solver = self.view.solver
        fixed = [fix_label(solver.encoder, self.context, name, value) for name, value in labels.items() if accepted(self.context.get(name), value)]
        return not solver.satisfiable(*fixed, solver.negate(region.formula))


def accepted(var: ContextVariable | None, value) -> bool:
    if var is None:
        return False
    return isinstance(value, bool) if var.kind == "bool" else isinstance(value, str) and value in var.values


def fix_label(encoder, context, name: str, value):
    import z3

    var = context[name]
    symbol = encoder.symbols[name]
    return symbol == z3.BoolVal(value) if var.kind == "bool" else symbol == var.values.index(value)


def _trivial(cond: ir.Condition | None) -> bool:
    return cond is None or (isinstance(cond, ir.BoolConst) and cond.value)


def compute_regions(result: CheckResult, deployment: str = "default") -> RegionMap:
    """Every region of `deployment` of an error-free check result (`api.check_file`), with witnesses."""
    import z3

    bundle = api.compile_checked(result, deployment=deployment)[0]
    constitution = result.constitution
    view = DeploymentView(constitution, resolve_deployment(constitution, deployment))
    semantics = Semantics(view.deployment, view.solver.encode, view.graph)
    context = constitution.context
    assumptions = view.deployment.assumptions
    encoder = view.solver.encoder

    def inside(values: Values) -> bool:
        return all(evaluate(a, values, context) for a in assumptions)

    def cond_holds(cond):
        return lambda values: inside(values) and evaluate(cond, values, context)

    found: list[Region] = []

    def add(region_id, kind, targets, description, formula, holds):
        found.append(Region(region_id, kind, tuple(targets), description, view.solver.find(formula), formula, holds))

    left_out = {o.id for o in bundle.omitted}  # can never apply here: not in the bundle (language 1.2)

    def never_applies(item) -> bool:
        if item.id not in left_out:
            return False
        kind = "rule" if item in view.deployment.rules else "principle"
        add(f"{kind}:{item.id}", kind, [item.id], f"`{item.id}` can never apply in this deployment (left out of its bundle)",
            semantics.applies(item.id), cond_holds(item_condition(item)))
        return True

    for rule in view.deployment.rules:
        if never_applies(rule):
            continue
        entry = bundle.rule(rule.id)
        cond = item_condition(rule)
        applies = semantics.applies(rule.id)
        add(f"rule:{rule.id}", "rule", [rule.id], f"{entry.statement} (in force {_where(cond, entry.applies.text)})", applies, cond_holds(cond))
        if not _trivial(cond):
            near = [z3.substitute(applies, (encoder.symbols[name], value)) for name, value in _alternatives(encoder, context)]
            add(
                f"boundary:{rule.id}", "boundary", [rule.id],
                f"just outside `{rule.id}`: it is not in force, but changing one context variable would put it in force (it is in force when {entry.applies.text})",
                z3.And(z3.Not(applies), z3.Or(*near)), _boundary_holds(cond, context, inside),
            )
    for principle in view.deployment.principles:
        if never_applies(principle):
            continue
        entry = bundle.principle(principle.id)
        text = entry.description or entry.wording.critique_request or principle.id
        where = _where(principle.node.applies, entry.applies.text)
        add(f"principle:{principle.id}", "principle", [principle.id], f"{text} (applies {where})",
            semantics.applies(principle.id), cond_holds(principle.node.applies))
    for conflict in view.deployment.conflicts:
        both = z3.And(semantics.applies(conflict.left), semantics.applies(conflict.right))
        for index, clause in enumerate(conflict.clauses):
            when = "otherwise: no `when` clause holds" if clause.condition is None else f"when {condition_words(clause.condition)}"
            add(
                f"clause:{conflict.left}~{conflict.right}:{index}", "clause", [conflict.left, conflict.right],
                f"`{conflict.left}` and `{conflict.right}` both apply and the clause preferring `{clause.side}` ({when}) decides",
                z3.And(both, semantics.clause_formula(conflict, index)), _clause_holds(conflict, index, view, inside),
            )
    for name in constitution.deployments:
        chain = resolve_deployment(constitution, name).assumptions
        text = "; ".join(condition_words(a) for a in chain) if chain else "no assumptions: every context"
        add(f"deployment:{name}", "deployment", [name], f"deployment `{name}`: {text}",
            z3.And(*[view.solver.encode(a) for a in chain]) if chain else z3.BoolVal(True),
            (lambda chain: lambda values: inside(values) and all(evaluate(a, values, context) for a in chain))(chain))
    for x, y in _interacting(view, semantics):
        ax, ay = semantics.applies(x), semantics.applies(y)
        proper = z3.And(ax, ay)
        if not (view.solver.satisfiable(ax, z3.Not(ay)) and view.solver.satisfiable(ay, z3.Not(ax))):
            continue  # one contains the other: the corner is just the smaller region
        cx, cy = item_condition(view.items[x]), item_condition(view.items[y])
        wx, wy = (bundle.item(i).applies.text for i in (x, y))
        add(f"meeting:{x}+{y}", "meeting", [x, y], f"where `{x}` ({wx}) and `{y}` ({wy}) both apply",
            proper, (lambda cx, cy: lambda values: inside(values) and evaluate(cx, values, context) and evaluate(cy, values, context))(cx, cy))
    regions = [r for r in found if r.witness is not None]
    empty = [r for r in found if r.witness is None]
    return RegionMap(constitution.name, deployment, bundle.content_hash, dict(context), regions, empty, view)


def _where(cond, text: str) -> str:
    return "in every context" if _trivial(cond) else f"when {text}"


def condition_words(cond: ir.Condition) -> str:
    """A condition in the compiler's plain English (the wording a bundle carries)."""
    from cai_lang.codegen.compiler import condition_of

    return condition_of(cond).text


def _alternatives(encoder, context):
    """(variable, value) for every value each variable can take, as z3 constants."""
    import z3

    for name, var in context.items():
        if var.kind == "bool":
            yield name, z3.BoolVal(True)
            yield name, z3.BoolVal(False)
        else:
            for position in range(len(var.values)):
                yield name, z3.IntVal(position)


def _domain(var: ContextVariable):
    return (True, False) if var.kind == "bool" else var.values


def _boundary_holds(cond, context, inside):
    def holds(values: Values) -> bool:
        if not inside(values) or evaluate(cond, values, context):
            return False
        return any(evaluate(cond, {**values, name: value}, context) for name, var in context.items() for value in _domain(var))

    return holds


def _clause_holds(conflict, index, view: DeploymentView, inside):
    context = view.constitution.context
    sides = [item_condition(view.items[side]) for side in (conflict.left, conflict.right) if side in view.items]

    def holds(values: Values) -> bool:
        clause = conflict.clauses[index]
        if clause.condition is not None:
            matched = evaluate(clause.condition, values, context)
        else:
            matched = not any(evaluate(c.condition, values, context) for c in conflict.clauses if c.condition is not None)
        return inside(values) and matched and len(sides) == 2 and all(evaluate(c, values, context) for c in sides)

    return holds


def _interacting(view: DeploymentView, semantics: Semantics) -> list[tuple[str, str]]:
    """Pairs of conditional items that interact: rules on one action, items ordered by priority, conflict sides."""
    conditional = {i for i, item in view.items.items() if not _trivial(item_condition(item))}
    pairs: set[tuple[str, str]] = set()
    for rules in semantics.rules_on.values():
        for a, b in itertools.combinations([r.id for r in rules], 2):
            pairs.add((a, b))
    for a, b in itertools.permutations(view.items, 2):
        if view.graph.outranks(a, b):
            pairs.add((a, b))
    for conflict in view.deployment.conflicts:
        pairs.add((conflict.left, conflict.right))
    ordered = {tuple(sorted(p)) for p in pairs if p[0] in conditional and p[1] in conditional and p[0] in view.items and p[1] in view.items}
    return sorted(ordered)


def enumerate_contexts(context: Mapping[str, ContextVariable]):
    """Every context of a schema (for tests and small constitutions): the product of the domains."""
    names = list(context)
    for values in itertools.product(*[_domain(context[n]) for n in names]):
        yield dict(zip(names, values))
