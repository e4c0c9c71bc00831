"""The contradiction checks, decided by the solver for one deployment at a time.

- E201: cycles in the priority order.
- E202 / I401: a `never A` and an `always A` rule that can apply in one
  context; a priority between them (direct or transitive) makes it I401.
- E203 / E204 / E205: a conflict that leaves a both-sides context undecided,
  two clauses preferring different sides in one context, or a clause that
  prefers the side the priority order ranks lower.
- E206: assumptions that can never hold (the other checks are then vacuous
  and skipped).
- W307: a condition that can never hold, checked in the deployment that
  declares it (a deployment narrowing its base does not make base
  declarations "dead").
Every context-dependent finding carries the solver's witness.
"""

from __future__ import annotations

from itertools import combinations

from cai_lang.check.view import DeploymentView
from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.fixes import Fix, insert_at, line_start
from cai_lang.diagnostics.model import Diagnostic, Related
from cai_lang.ir.model import ConflictDef, RuleDef


def check_priority_cycles(view: DeploymentView) -> list[Diagnostic]:
    found = []
    for cycle in view.graph.cycles():
        edges = [e for e in view.graph.edges if any(e.higher == a and e.lower == b for a, b in zip(cycle, cycle[1:]))]
        # Point at the link declared last: the one that closed the loop.
        closing = max(edges, key=lambda e: (e.priority.node.span.file, e.priority.node.span.start))
        span = closing.priority.spans[closing.index].cover(closing.priority.spans[closing.index + 1])
        related = [
            Related(span=e.priority.spans[e.index], message=f"`{e.higher} > {e.lower}` declared here")
            for e in edges
            if e is not closing
        ]
        found.append(msg.PRIORITY_CYCLE.at(span, cycle=" > ".join(cycle), related=related, help="remove one link of the cycle"))
    return found


def _rule_span(rule: RuleDef):
    return rule.node.verdict_span or rule.node.name.span


def _priority_fixes(later: RuleDef, first: str, second: str) -> list[Fix]:
    """`priority first > second` (the help's order, applicable) and the reverse, after the later rule.

    Offered only for a rule of the root module (its id has no module prefix)
    when both ids can be written there as references."""
    span = later.node.span
    if "." in later.id or any(rule_id.count(".") > 1 for rule_id in (first, second)):
        return []
    at = insert_at(span.file, span.end_line, span.end_column, span.end, "")
    fixes = []
    for higher, lower, applicable in ((first, second, True), (second, first, False)):
        text = f"\n\n{' ' * (span.column - 1)}priority {higher} > {lower}"
        fixes.append(Fix(title=f"add `priority {higher} > {lower}`", edits=(at.model_copy(update={"new_text": text}),), applicable=applicable))
    return fixes


def _otherwise_fixes(view: DeploymentView, conflict: ConflictDef) -> list[Fix]:
    """`prefer X otherwise` before the conflict's closing brace, for each side; applicable for the
    side the priority order already ranks higher, if one is."""
    node = conflict.node
    if node.span.line == node.span.end_line:
        return []
    line, column, offset = line_start(node.span)
    fixes = []
    for side, other in ((node.left, conflict.right), (node.right, conflict.left)):
        side_id = conflict.left if side is node.left else conflict.right
        text = f"{' ' * (node.span.end_column - 2)}    prefer {side} otherwise\n"
        edit = insert_at(node.span.file, line, column, offset, text)
        fixes.append(Fix(title=f"add `prefer {side} otherwise`", edits=(edit,), applicable=view.graph.outranks(side_id, other)))
    return fixes


def check_rules(view: DeploymentView) -> list[Diagnostic]:
    by_action: dict[str, dict[str, list[RuleDef]]] = {}
    for rule in view.deployment.rules:
        if rule.action is not None and rule.node.verdict is not None:
            by_action.setdefault(rule.action, {"never": [], "always": []})[rule.node.verdict].append(rule)
    found = []
    for action, sides in by_action.items():
        for never in sides["never"]:
            for always in sides["always"]:
                solver = view.solver
                witness = solver.find(solver.encode(never.node.effective_condition), solver.encode(always.node.effective_condition))
                if witness is None:
                    continue
                first, second = sorted((never, always), key=lambda r: (r.node.span.file, r.node.span.start))
                related = [Related(span=_rule_span(first), message=f"`{first.id}` says {first.node.verdict} here")]
                fields = {"never": never.id, "always": always.id, "action": action}
                winner = None
                if view.graph.outranks(never.id, always.id):
                    winner = never.id
                elif view.graph.outranks(always.id, never.id):
                    winner = always.id
                if winner is None:
                    found.append(
                        msg.RULES_CONTRADICT.at(
                            _rule_span(second),
                            witness=witness,
                            related=related,
                            help=f"narrow one rule's condition, or add `priority {always.id} > {never.id}` (or the reverse) to say which wins",
                            fixes=_priority_fixes(second, always.id, never.id),
                            **fields,
                        )
                    )
                else:
                    loser = always.id if winner == never.id else never.id
                    chain = " > ".join(view.graph.path(winner, loser) or [winner, loser])
                    found.append(msg.RULES_RESOLVED.at(_rule_span(second), witness=witness, related=related, help=f"priority: {chain}", winner=winner, **fields))
    return found


def check_conflicts(view: DeploymentView) -> list[Diagnostic]:
    found = []
    for conflict in view.deployment.conflicts:
        if conflict.left not in view.items or conflict.right not in view.items:
            continue  # a side is disabled here: the conflict cannot arise
        solver = view.solver
        both = solver.all_of(solver.encode(view.condition_of(conflict.left)), solver.encode(view.condition_of(conflict.right)))
        if not solver.satisfiable(both):
            continue  # the sides never apply together: nothing to decide
        node = conflict.node
        header = node.left.span.cover(node.right.span)
        names = {"left": str(node.left), "right": str(node.right)}
        sides = [
            Related(span=view.deployment.span_of(conflict.left), message=f"`{conflict.left}` declared here"),
            Related(span=view.deployment.span_of(conflict.right), message=f"`{conflict.right}` declared here"),
        ]
        formulas = [view.clause_formula(conflict, i) for i in range(len(conflict.clauses))]

        undecided = solver.find(both, solver.negate(solver.any_of(*formulas)))
        if undecided is not None:
            found.append(
                msg.CONFLICT_INCOMPLETE.at(
                    header, witness=undecided, related=sides, help="add a clause for this context, or `prefer X otherwise`", fixes=_otherwise_fixes(view, conflict), **names
                )
            )

        for i, j in combinations(range(len(conflict.clauses)), 2):
            first, second = conflict.clauses[i], conflict.clauses[j]
            if first.side == second.side:
                continue
            overlap = solver.find(both, formulas[i], formulas[j])
            if overlap is not None:
                found.append(
                    msg.CONFLICT_AMBIGUOUS.at(
                        second.node.span,
                        witness=overlap,
                        related=[Related(span=first.node.span, message=f"this clause prefers `{first.side}` in the same context")],
                        help="make the two clauses' conditions disjoint",
                        **names,
                    )
                )

        for higher, lower in ((conflict.left, conflict.right), (conflict.right, conflict.left)):
            if not view.graph.outranks(higher, lower):
                continue
            chain = view.graph.path(higher, lower) or [higher, lower]
            edge = next(e for e in view.graph.edges if e.higher == chain[0] and e.lower == chain[1])
            for index, clause in enumerate(conflict.clauses):
                if clause.side != lower:
                    continue
                witness = solver.find(both, formulas[index])
                if witness is not None:
                    found.append(
                        msg.CONFLICT_AGAINST_PRIORITY.at(
                            clause.node.span,
                            witness=witness,
                            related=[Related(span=edge.priority.node.span, message=f"priority {' > '.join(chain)}")],
                            help="drop the clause or the priority link: they disagree about which side wins",
                            higher=higher,
                            lower=lower,
                        )
                    )
    return found


def check_assumptions(view: DeploymentView) -> list[Diagnostic]:
    if not view.deployment.assumptions or view.solver.satisfiable():
        return []
    definition = view.constitution.deployments[view.name]
    related = [Related(span=a.span, message="assumed here") for a in view.deployment.assumptions]
    return [msg.ASSUME_UNSAT.at(definition.span or view.constitution.anchor, name=view.name, related=related)]


def check_dead_conditions(view: DeploymentView) -> list[Diagnostic]:
    found = []
    for principle in view.deployment.principles:
        if principle.origin == view.name and principle.node.applies is not None:
            solver = view.solver
            if not solver.satisfiable(solver.encode(principle.node.applies)):
                found.append(msg.DEAD_CONDITION.at(principle.node.applies.span, what=f"the condition of principle `{principle.id}`"))
    for rule in view.deployment.rules:
        condition = rule.node.effective_condition
        if rule.origin == view.name and condition is not None and not view.solver.satisfiable(view.solver.encode(condition)):
            found.append(msg.DEAD_CONDITION.at(rule.node.condition.span, what=f"the condition of rule `{rule.id}`"))
    for conflict in view.deployment.conflicts:
        if conflict.origin != view.name or conflict.left not in view.items or conflict.right not in view.items:
            continue
        solver = view.solver
        both = solver.all_of(solver.encode(view.condition_of(conflict.left)), solver.encode(view.condition_of(conflict.right)))
        if not solver.satisfiable(both):
            continue
        for index, clause in enumerate(conflict.clauses):
            if clause.condition is None:
                continue
            if not solver.satisfiable(both, view.clause_formula(conflict, index)):
                found.append(msg.DEAD_CONDITION.at(clause.condition.span, what="this clause's condition (where both sides apply)"))
    return found


def _unless_assumptions_hold(check):
    """Skip a check when the deployment's assumptions are unsatisfiable (E206 says so)."""

    def guarded(view: DeploymentView) -> list[Diagnostic]:
        if view.deployment.assumptions and not view.solver.satisfiable():
            return []
        return check(view)

    guarded.__name__ = check.__name__
    return guarded


LOGIC_PASSES = (
    check_priority_cycles,
    check_assumptions,
    _unless_assumptions_hold(check_rules),
    _unless_assumptions_hold(check_conflicts),
    _unless_assumptions_hold(check_dead_conditions),
)
