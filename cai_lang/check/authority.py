"""Authority (language 1.2, section 9): hard rules, and who can change a verdict.

- E209: a deployment `disable`s a hard rule or gives it a `weight`.
- E210: an item that is not a hard rule outranks a hard rule in the
  (transitive) priority order, or a conflict clause that can match prefers
  one over it.
- E211: two contexts of the deployment's region that differ only in
  `by user` variables, where the hard rule applies in one and not the
  other, or applies in both with different resolved verdicts on its action.
  The witness is the pair.
- W311: the deployment's assumptions rule the hard rule out, though its
  condition alone can hold.

`who_can_change` answers, per deployment and action, who can change the
verdict: `nobody`, `operator` or `user` (with the variables through which);
the compiler records it in the bundle and `caic test` proves `expect users
can/cannot change` with `user_change_pair`. Every question is a solver
query over pairs of contexts (`solver.PairSolver`), exact over the finite
domains.
"""

from __future__ import annotations

from typing import Iterable

from cai_lang.check.view import DeploymentView
from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.ir.model import Constitution, ResolvedDeployment, RuleDef


def hard_rule_ids(constitution: Constitution) -> set[str]:
    """Every rule declared `hard`, in the base or any deployment."""
    found = {r.id for r in constitution.rules.values() if r.node.hard}
    for deployment in constitution.deployments.values():
        found |= {r.id for r in deployment.rules if r.node.hard}
    return found


def user_variables(deployment: ResolvedDeployment) -> list[str]:
    return [name for name, var in deployment.context.items() if var.set_by == "user"]


class PairQuestions:
    """Queries over pairs of contexts of one deployment that differ only in `free` variables."""

    def __init__(self, deployment: ResolvedDeployment, free: Iterable[str], region: Iterable[ir.Condition] = (), graph=None):
        import z3

        from cai_lang.check.solver import PairSolver
        from cai_lang.check.verdict import Semantics

        self.z3 = z3
        self.pairs = PairSolver(deployment.context, free, (*deployment.assumptions, *region))
        self.first = Semantics(deployment, self.pairs.first.encode, graph)
        self.second = Semantics(deployment, self.pairs.second.encode, self.first.graph)

    def verdict_differs(self, action: str):
        z3 = self.z3
        one, two = self.first.verdicts(action), self.second.verdicts(action)
        return z3.Or(*[z3.And(one[v], z3.Not(two[v])) for v in one])

    def rule_changes(self, rule: RuleDef):
        """The hard rule applies in one context and not the other, or its action's verdict differs where it applies in both."""
        z3 = self.z3
        a1, a2 = self.first.applies(rule.id), self.second.applies(rule.id)
        return z3.Or(z3.Xor(a1, a2), z3.And(a1, a2, self.verdict_differs(rule.action)))


def user_change_pair(deployment: ResolvedDeployment, action: str, region: Iterable[ir.Condition] = (), free: Iterable[str] | None = None):
    """Two contexts of the region that differ only in user-set variables (or `free`) with different verdicts on `action`, or None."""
    free = user_variables(deployment) if free is None else list(free)
    if not free:
        return None
    questions = PairQuestions(deployment, free, region)
    return questions.pairs.find(questions.verdict_differs(action))


def who_can_change(deployment: ResolvedDeployment, action: str) -> dict:
    """`{"who": "nobody" | "operator" | "user", "variables": [...]}` for one action in one deployment.

    `user`: some pair of contexts differing only in `by user` variables has
    different verdicts (the variables are those that change it alone, or all
    of them when only together). `nobody`: the hard rules on the action
    decide one verdict in every context of the deployment, so neither an
    assumption nor a disabled ordinary rule can change it. `operator`: else."""
    users = user_variables(deployment)
    if user_change_pair(deployment, action, free=users) is not None:
        alone = [u for u in users if user_change_pair(deployment, action, free=[u]) is not None]
        return {"who": "user", "variables": alone or users}
    if _hard_rules_decide(deployment, action):
        return {"who": "nobody", "variables": []}
    return {"who": "operator", "variables": []}


def _hard_rules_decide(deployment: ResolvedDeployment, action: str) -> bool:
    from cai_lang.check.solver import ContextSolver

    solver = ContextSolver(deployment.context, deployment.assumptions)
    if not solver.satisfiable():
        return False
    hard = [r for r in deployment.rules if r.node.hard and r.action == action and r.node.verdict is not None]
    for verdict in ("never", "always"):
        covering = [solver.encode(r.node.effective_condition) for r in hard if r.node.verdict == verdict]
        if covering and not solver.satisfiable(solver.negate(solver.any_of(*covering))):
            return True
    return False


# ---------------------------------------------------------------- the checker's passes


def _hard_rules(view: DeploymentView) -> list[RuleDef]:
    return [r for r in view.deployment.rules if r.node.hard]


def check_hard_overrides(view: DeploymentView) -> list[Diagnostic]:
    """E209, reported where the deployment that weakens the hard rule says so."""
    declared = view.constitution.deployments[view.name]
    hard = hard_rule_ids(view.constitution)
    found = []
    for how, spans in (("disables", declared.disable_spans), ("reweights", declared.weight_spans)):
        for target, span in spans.items():
            if target in hard:
                found.append(msg.HARD_DISABLED.at(span, name=view.name, how=how, rule=target, help="remove this line; a hard rule holds in every deployment"))
    return found


def check_hard_outranked(view: DeploymentView) -> list[Diagnostic]:
    """E210: priority links and conflict clauses that let a non-hard item win over a hard rule."""
    hard = {r.id for r in _hard_rules(view)}
    found = []
    for rule_id in sorted(hard):
        for item in sorted(i for i in view.items if i not in hard and view.graph.outranks(i, rule_id)):
            edge = next(e for e in view.graph.edges if e.lower == rule_id and (e.higher == item or view.graph.outranks(item, e.higher)))
            span = edge.priority.spans[edge.index].cover(edge.priority.spans[edge.index + 1])
            how = "" if item == edge.higher else f" (through `{edge.higher}`)"
            found.append(msg.HARD_OUTRANKED.at(span, item=item, rule=rule_id, how=how, help="put the hard rule first, or remove the link"))
        for conflict in view.deployment.conflicts:
            if rule_id not in (conflict.left, conflict.right):
                continue
            other = conflict.right if conflict.left == rule_id else conflict.left
            if other in hard:
                continue
            for index, clause in enumerate(conflict.clauses):
                if clause.side != other:
                    continue
                witness = view.solver.find(view.clause_formula(conflict, index))
                if witness is not None:
                    found.append(msg.HARD_PREFERRED.at(clause.node.span, item=other, rule=rule_id, witness=witness))
    return found


def check_hard_users(view: DeploymentView) -> list[Diagnostic]:
    """E211 with its witness pair, and W311 where the assumptions rule a hard rule out."""
    if not view.solver.satisfiable():
        return []  # E206 says so; every question would be vacuous
    found = []
    users = user_variables(view.deployment)
    questions = PairQuestions(view.deployment, users, graph=view.graph) if users else None
    for rule in _hard_rules(view):
        if rule.action is None or rule.node.verdict is None:
            continue
        condition = rule.node.effective_condition
        if not view.solver.satisfiable(view.solver.encode(condition)):
            if view.deployment.assumptions and _can_hold(view, condition):
                found.append(msg.HARD_NEVER_APPLIES.at(rule.node.name.span, rule=rule.id, name=view.name))
            continue
        if questions is None:
            continue
        pair = questions.pairs.find(questions.rule_changes(rule))
        if pair is None:
            continue
        first, second = pair
        changed = ", ".join(f"`{u}`" for u in users if first[u] != second[u])
        semantics = questions.first
        if semantics.applies_at(rule.id, first) != semantics.applies_at(rule.id, second):
            what = f"{changed} (set by the user) decides whether it applies"
        else:
            what = f"{changed} (set by the user) changes the verdict on `{rule.action}` where it applies"
        found.append(
            msg.HARD_USER_CHANGES.at(
                rule.node.verdict_span or rule.node.name.span,
                rule=rule.id,
                what=what,
                witness=first,
                witness_other=second,
                help="make the condition depend only on `by operator` variables, or fix the variable with `assume` in the deployment",
            )
        )
    return found


def _can_hold(view: DeploymentView, condition) -> bool:
    from cai_lang.check.solver import ContextSolver

    solver = ContextSolver(view.deployment.context)
    return solver.satisfiable(solver.encode(condition))


AUTHORITY_PASSES = (check_hard_overrides, check_hard_outranked, check_hard_users)
