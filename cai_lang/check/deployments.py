"""Running the per-deployment passes over each deployment.

Each deployment is resolved (`cai_lang.ir.resolve`) and wrapped in a
`DeploymentView` (`view.py`). `check_deployments` runs the deployment passes (`cai_lang.check.DEPLOYMENT_PASSES`)
on `default` and then each deployment in declaration order, and reports a finding that several deployments share
once, for the first, with a note naming the others.
"""

from __future__ import annotations

from typing import Callable, Sequence

from cai_lang.check.view import DeploymentView
from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir.model import Constitution
from cai_lang.ir.resolve import resolve_deployment


def check_nothing_enabled(view: DeploymentView) -> list[Diagnostic]:
    if view.deployment.principles or view.deployment.rules:
        return []
    return [msg.NOTHING_ENABLED.at(view.anchor(), name=view.name)]


def _bounded(check_pass: Callable[[DeploymentView], list[Diagnostic]], view: DeploymentView) -> list[Diagnostic]:
    """The pass's findings, or E212 naming the pass when a solver query ran out of its limit."""
    from cai_lang.check.solver import SolverUndecided

    try:
        return check_pass(view)
    except SolverUndecided as undecided:
        what = _PASS_WORDS.get(check_pass.__name__, f"the check `{check_pass.__name__}`")
        return [msg.SOLVER_UNDECIDED.at(view.anchor(), what=what, where=view.name, deployment=view.name, detail=str(undecided))]


# What each solver-backed pass proves, for E212.
_PASS_WORDS = {
    "check_assumptions": "whether the deployment's assumptions can hold (E206)",
    "check_rules": "whether a `never` and an `always` rule overlap (E202, I401)",
    "check_conflicts": "whether conflicts decide every case where both sides apply (E203-E205)",
    "check_dead_conditions": "whether every condition can hold (W307)",
    "check_over_refusal": "whether helpfulness is outranked everywhere (W303)",
    "check_undeclared_conflicts": "whether helpfulness and harm-avoidance principles meet unrelated (W304)",
}


def check_deployments(constitution: Constitution, passes: Sequence[Callable[[DeploymentView], list[Diagnostic]]], only: str | None = None) -> list[Diagnostic]:
    names = [only] if only is not None else list(constitution.deployments)
    first_seen: dict[tuple, Diagnostic] = {}
    also_in: dict[tuple, list[str]] = {}
    shared: dict = {}
    for name in names:
        view = DeploymentView(constitution, resolve_deployment(constitution, name), shared)
        for check_pass in passes:
            for finding in _bounded(check_pass, view):
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
