"""Deployment resolution: what a deployment is once its `extends` chain is
applied to the base constitution (`default`).

Added declarations, `disable`/`enable`, weight overrides and the
conjunction of every `assume` give the `ResolvedDeployment` that the
checker proves things about, the compiler turns into a bundle and the
language server describes on hover. Pure IR: no solver, no parser.
"""

from __future__ import annotations

from cai_lang.ir.model import Constitution, ResolvedDeployment


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
        examples=constitution.examples,
        comparisons=constitution.comparisons,
    )
