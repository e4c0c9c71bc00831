"""What a deployment decides, as z3 formulas and on one concrete context:
the shared semantics of `caic test` and `caic diff` (language 1.1, section 7).

- *Applies*: an item is enabled and its `applies when` (principle) or
  effective condition (rule) holds.
- *Verdict* on an action: no enabled rule on it applies, `allowed`;
  otherwise the applicable rules not outranked (transitive priority order)
  by an applicable rule of the opposite verdict decide, `never` or
  `always`; when those disagree the verdict is `contradiction` (E202).
- *Winner* of `X` against `Y`: the side preferred by a matching clause of a
  declared conflict between them (an `otherwise` clause matches where no
  `when` clause of its conflict does); with no clause matching, the side
  the priority order ranks higher; else `none`; clauses preferring both
  sides at once give `ambiguous`.

`Semantics` takes the function that encodes an IR condition, so the test
runner passes the checker's own solver encoding and the diff passes one
over the joint context of two versions. The concrete `*_at` methods say
what happens at a witness, for messages; they use `ir.conditions.evaluate`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Callable, Mapping

import z3

from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import evaluate
from cai_lang.ir.model import ConflictDef, PrincipleDef, ResolvedDeployment, RuleDef
from cai_lang.ir.order import PriorityGraph

VERDICTS = ("never", "always", "allowed", "contradiction")
Values = Mapping[str, "bool | str"]


def item_condition(item: PrincipleDef | RuleDef) -> ir.Condition | None:
    return item.node.applies if isinstance(item, PrincipleDef) else item.node.effective_condition


class Semantics:
    def __init__(self, deployment: ResolvedDeployment, encode: Callable[[ir.Condition | None], z3.BoolRef], graph: PriorityGraph | None = None):
        self.deployment = deployment
        self.encode = encode
        self.graph = graph if graph is not None else PriorityGraph(deployment.priorities)
        self.items: dict[str, PrincipleDef | RuleDef] = {p.id: p for p in deployment.principles}
        self.items.update({r.id: r for r in deployment.rules})
        self.rules_on: dict[str, list[RuleDef]] = {}
        for rule in deployment.rules:
            if rule.action is not None and rule.node.verdict is not None:
                self.rules_on.setdefault(rule.action, []).append(rule)
        # Conflicts by their unordered pair, in declaration order: a scan per
        # question made `caic diff` and `caic test` quadratic in conflicts.
        self._conflicts: dict[frozenset, list[ConflictDef]] = {}
        for conflict in deployment.conflicts:
            self._conflicts.setdefault(frozenset((conflict.left, conflict.right)), []).append(conflict)
        self._formulas: dict[tuple, object] = {}

    # ------------------------------------------------------------ formulas
    def applies(self, item_id: str) -> z3.BoolRef:
        item = self.items.get(item_id)
        if item is None:
            return z3.BoolVal(False)
        key = ("applies", item_id)
        if key not in self._formulas:
            self._formulas[key] = self.encode(item_condition(item))
        return self._formulas[key]

    def _beaten(self, rule: RuleDef, rules: list[RuleDef]) -> list[RuleDef]:
        return [o for o in rules if o.node.verdict != rule.node.verdict and self.graph.outranks(o.id, rule.id)]

    def verdicts(self, action: str) -> dict[str, z3.BoolRef]:
        """One formula per verdict; exactly one holds in every context."""
        key = ("verdict", action)
        if key in self._formulas:
            return self._formulas[key]
        rules = self.rules_on.get(action, [])
        decides = {"never": [], "always": []}
        for rule in rules:
            beaten = z3.Or(*[self.applies(o.id) for o in self._beaten(rule, rules)]) if self._beaten(rule, rules) else z3.BoolVal(False)
            decides[rule.node.verdict].append(z3.And(self.applies(rule.id), z3.Not(beaten)))
        never = z3.Or(*decides["never"]) if decides["never"] else z3.BoolVal(False)
        always = z3.Or(*decides["always"]) if decides["always"] else z3.BoolVal(False)
        result = {
            "never": z3.And(never, z3.Not(always)),
            "always": z3.And(always, z3.Not(never)),
            "contradiction": z3.And(never, always),
            "allowed": z3.Not(z3.Or(*[self.applies(r.id) for r in rules])) if rules else z3.BoolVal(True),
        }
        self._formulas[key] = result
        return result

    def conflicts_between(self, x: str, y: str) -> list[ConflictDef]:
        return list(self._conflicts.get(frozenset((x, y)), ()))

    def clause_formula(self, conflict: ConflictDef, index: int) -> z3.BoolRef:
        clause = conflict.clauses[index]
        if clause.condition is not None:
            return self.encode(clause.condition)
        whens = [self.encode(c.condition) for c in conflict.clauses if c.condition is not None]
        return z3.Not(z3.Or(*whens)) if whens else z3.BoolVal(True)

    def winners(self, x: str, y: str) -> dict[str, z3.BoolRef]:
        """Formulas for who wins between x and y: keys x, y, "none", "ambiguous"."""
        key = ("winner", x, y)
        if key in self._formulas:
            return self._formulas[key]
        prefers = {x: [], y: []}
        for conflict in self.conflicts_between(x, y):
            for index, clause in enumerate(conflict.clauses):
                prefers[clause.side].append(self.clause_formula(conflict, index))
        px = z3.Or(*prefers[x]) if prefers[x] else z3.BoolVal(False)
        py = z3.Or(*prefers[y]) if prefers[y] else z3.BoolVal(False)
        neither = z3.And(z3.Not(px), z3.Not(py))
        by_order = x if self.graph.outranks(x, y) else y if self.graph.outranks(y, x) else None
        result = {
            x: z3.Or(z3.And(px, z3.Not(py)), z3.And(neither, z3.BoolVal(by_order == x))),
            y: z3.Or(z3.And(py, z3.Not(px)), z3.And(neither, z3.BoolVal(by_order == y))),
            "ambiguous": z3.And(px, py),
            "none": z3.And(neither, z3.BoolVal(by_order is None)),
        }
        self._formulas[key] = result
        return result

    # ------------------------------------------------------------ one context
    def holds(self, cond: ir.Condition | None, values: Values) -> bool:
        return evaluate(cond, values, self.deployment.context)

    def applies_at(self, item_id: str, values: Values) -> bool:
        item = self.items.get(item_id)
        return item is not None and self.holds(item_condition(item), values)

    def verdict_at(self, action: str, values: Values) -> tuple[str, list[RuleDef]]:
        """The verdict in one context and the rules that decide it."""
        rules = [r for r in self.rules_on.get(action, []) if self.applies_at(r.id, values)]
        if not rules:
            return "allowed", []
        deciding = [r for r in rules if not self._beaten(r, rules)]
        kinds = {r.node.verdict for r in deciding}
        return (kinds.pop() if len(kinds) == 1 else "contradiction"), deciding

    def winner_at(self, x: str, y: str, values: Values) -> tuple[str, list]:
        """Who wins in one context ("x", "y", "none", "ambiguous") and the clauses that matched."""
        matched = []
        for conflict in self.conflicts_between(x, y):
            whens = [c for c in conflict.clauses if c.condition is not None]
            any_when = any(self.holds(c.condition, values) for c in whens)
            for clause in conflict.clauses:
                if (clause.condition is None and not any_when) or (clause.condition is not None and self.holds(clause.condition, values)):
                    matched.append(clause)
        sides = {c.side for c in matched}
        if len(sides) == 2:
            return "ambiguous", matched
        if sides:
            return sides.pop(), matched
        if self.graph.outranks(x, y):
            return x, []
        if self.graph.outranks(y, x):
            return y, []
        return "none", []

    @cached_property
    def actions(self) -> list[str]:
        return sorted(self.rules_on)
