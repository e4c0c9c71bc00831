"""`DeploymentView`: one resolved deployment and what the per-deployment
passes compute about it once (its solver with the assumptions asserted, its
priority graph, its items, where a conflict clause matches).

A leaf of the checker: the logic passes and the lints both take a view, and
the driver in `deployments.py` builds one per deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from cai_lang.ir import nodes as ir
from cai_lang.ir.model import (
    ConflictDef,
    Constitution,
    PrincipleDef,
    ResolvedDeployment,
    RuleDef,
)
from cai_lang.ir.order import PriorityGraph


@dataclass
class DeploymentView:
    """One resolved deployment plus what the passes compute about it once."""

    constitution: Constitution
    deployment: ResolvedDeployment
    # Results that do not depend on the deployment (a principle's aim, wording
    # similarity), computed once and shared by every deployment's view.
    shared: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.deployment.name

    @cached_property
    def solver(self):
        from cai_lang.check.solver import ContextSolver  # z3 loads only when needed

        return ContextSolver(self.constitution.context, self.deployment.assumptions)

    @cached_property
    def graph(self) -> PriorityGraph:
        return PriorityGraph(self.deployment.priorities)

    @cached_property
    def items(self) -> dict[str, PrincipleDef | RuleDef]:
        found: dict[str, PrincipleDef | RuleDef] = {p.id: p for p in self.deployment.principles}
        found.update({r.id: r for r in self.deployment.rules})
        return found

    def condition_of(self, item_id: str) -> ir.Condition | None:
        """Where an item applies: a principle's `applies when`, a rule's (effective) condition."""
        item = self.items[item_id]
        if isinstance(item, PrincipleDef):
            return item.node.applies
        return item.node.effective_condition

    def anchor(self):
        return self.constitution.deployments[self.name].span or self.constitution.anchor

    def clause_formula(self, conflict: ConflictDef, index: int):
        """Where a clause matches; `otherwise` matches where no `when` clause does."""
        clause = conflict.clauses[index]
        if clause.condition is not None:
            return self.solver.encode(clause.condition)
        others = [self.solver.encode(c.condition) for c in conflict.clauses if c.condition is not None]
        return self.solver.negate(self.solver.any_of(*others))
