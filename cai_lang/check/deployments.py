"""Deployment resolution, and running the per-deployment passes over each one.

`resolve_deployment` applies a deployment's `extends` chain to the base
constitution (`default`): added declarations, `disable`/`enable`, weight
overrides and the conjunction of every `assume`. The result is the
`ResolvedDeployment` the compiler turns into a bundle. `check_deployments`
runs `DEPLOYMENT_PASSES` on `default` and then each deployment in
declaration order, and reports a finding that several deployments share
once, for the first, with a note naming the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.ir.model import Constitution, PrincipleDef, ResolvedDeployment, RuleDef
from cai_lang.ir.order import PriorityGraph


def resolve_deployment(constitution: Constitution, name: str) -> ResolvedDeployment:
    chain = constitution.chain(name)
    if not chain or chain[-1].name != name:
        raise KeyError(f"no deployment named {name!r}")
    principles = dict(constitution.principles)
    rules = dict(constitution.rules)
    priorities = list(constitution.priorities)
    conflicts = list(constitution.conflicts)
    disabled: set[str] = set()
    added: list[str] = []
    reweighted: dict[str, float] = {}
    assumptions = []
    for deployment in chain:
        for principle in deployment.principles:
            principles[principle.id] = principle
            added.append(principle.id)
        for rule in deployment.rules:
            rules[rule.id] = rule
            added.append(rule.id)
        priorities.extend(deployment.priorities)
        conflicts.extend(deployment.conflicts)
        disabled.update(deployment.disabled)
        disabled.difference_update(deployment.enabled)
        reweighted.update(deployment.weights)
        assumptions.extend(deployment.assumptions)
    enabled_principles = tuple(p for i, p in principles.items() if i not in disabled)
    return ResolvedDeployment(
        name=name,
        chain=tuple(d.name for d in chain),
        assumptions=tuple(assumptions),
        context=constitution.context,
        principles=enabled_principles,
        weights={p.id: reweighted.get(p.id, p.weight) for p in enabled_principles},
        rules=tuple(r for i, r in rules.items() if i not in disabled),
        actions=constitution.actions,
        priorities=tuple(priorities),
        conflicts=tuple(conflicts),
        disabled=tuple(sorted(disabled)),
        added=tuple(added),
        reweighted=reweighted,
    )


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


def check_nothing_enabled(view: DeploymentView) -> list[Diagnostic]:
    if view.deployment.principles or view.deployment.rules:
        return []
    return [msg.NOTHING_ENABLED.at(view.anchor(), name=view.name)]


DeploymentPass = Callable[[DeploymentView], list[Diagnostic]]


def deployment_passes() -> tuple[DeploymentPass, ...]:
    # Imported here: the logic and lint passes pull in z3 and the word lists.
    from cai_lang.check.lints import LINT_PASSES
    from cai_lang.check.logic import LOGIC_PASSES

    return (check_nothing_enabled, *LOGIC_PASSES, *LINT_PASSES)


def check_deployments(constitution: Constitution, only: str | None = None) -> list[Diagnostic]:
    names = [only] if only is not None else list(constitution.deployments)
    first_seen: dict[tuple, Diagnostic] = {}
    also_in: dict[tuple, list[str]] = {}
    passes = deployment_passes()
    shared: dict = {}
    for name in names:
        view = DeploymentView(constitution, resolve_deployment(constitution, name), shared)
        for check_pass in passes:
            for finding in check_pass(view):
                key = finding.identity()
                if key in first_seen:
                    if name not in also_in[key]:
                        also_in[key].append(name)
                    continue
                first_seen[key] = finding.model_copy(update={"deployment": name})
                also_in[key] = []
    merged = []
    for key, finding in first_seen.items():
        others = also_in[key]
        if others:
            listed = ", ".join(f"`{n}`" for n in others)
            finding = finding.model_copy(update={"message": f"{finding.message} (also in deployment{'s' if len(others) > 1 else ''} {listed})"})
        merged.append(finding)
    return merged
