"""Lints: W301-W306, warnings about constitutions that are valid but likely wrong.

Text properties of a principle (W301 vague, W302 one phase) and
near-duplicates (W305) are reported in the deployment that declares the
principle. Over-refusal risk (W303) and undeclared conflicts (W304) depend on
what a deployment enables and orders, so they run in every deployment. W306
(unused declarations) looks at the whole constitution once. The heuristics'
word lists live in `lexicon.py`.
"""

from __future__ import annotations

import math

from cai_lang.check.lexicon import EMPTY_WORDS, aim, is_vague, words
from cai_lang.check.types import conditions_of
from cai_lang.check.view import DeploymentView
from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic, Related
from cai_lang.ir.conditions import variables_read
from cai_lang.ir.model import Constitution, PrincipleDef
from cai_lang.ir.program import Program

NEAR_DUPLICATE_THRESHOLD = 0.7  # Jaccard similarity of the principles' content words


def _wording(principle: PrincipleDef) -> str:
    node = principle.node
    parts = [principle.id, *(t.value for t in (node.description, node.critique, node.revision, node.compare) if t is not None)]
    return " ".join(parts)


def principle_aim(principle: PrincipleDef, shared: dict | None = None) -> str:
    cache = shared.setdefault("aims", {}) if shared is not None else {}
    key = principle.node.span
    if key not in cache:
        cache[key] = aim({t.value for t in principle.node.tags}, _wording(principle))
    return cache[key]


def check_vague(view: DeploymentView) -> list[Diagnostic]:
    found = []
    for principle in view.deployment.principles:
        if principle.origin != view.name:
            continue
        for field in ("critique", "revision", "compare"):
            text = getattr(principle.node, field)
            if text is not None and is_vague(text.value):
                found.append(
                    msg.VAGUE.at(text.span, name=principle.id, field=field, help="say what to look for and what to change, e.g. which facts, risks or omissions")
                )
    return found


def check_one_phase(view: DeploymentView) -> list[Diagnostic]:
    found = []
    for principle in view.deployment.principles:
        node = principle.node
        if principle.origin != view.name:
            continue
        sl = node.critique is not None and node.revision is not None
        rl = node.compare is not None
        declared = view.constitution.phase
        if declared is not None and (sl if declared == "sl" else rl):
            continue  # the constitution says it is for this phase only: serving it is enough
        if declared is not None:
            found.append(
                msg.WRONG_PHASE.at(node.name.span, name=principle.id, phase=declared, help=f"give it {'`critique` and `revision`' if declared == 'sl' else 'a `compare` question'}")
            )
            continue
        if sl != rl:
            phase, missing = ("supervised (SL-CAI)", "a `compare` question") if sl else ("RL", "`critique` and `revision` wording")
            found.append(msg.ONE_PHASE.at(node.name.span, name=principle.id, phase=phase, help=f"add {missing} to use it in both phases"))
    return found


def _applies(view: DeploymentView, principle: PrincipleDef):
    return view.solver.encode(principle.node.applies)


def _conflict_between(view: DeploymentView, a: str, b: str):
    return [c for c in view.deployment.conflicts if {c.left, c.right} == {a, b}]


def _dominated(view: DeploymentView, helpful: PrincipleDef, harmful: list[PrincipleDef]) -> bool:
    """Whether some harm-avoidance principle wins over `helpful` in every context."""
    for harm in harmful:
        if view.graph.outranks(harm.id, helpful.id):
            return True
        for conflict in _conflict_between(view, harm.id, helpful.id):
            both = view.solver.all_of(_applies(view, harm), _applies(view, helpful))
            if not view.solver.satisfiable(both):
                continue
            helpful_wins = [view.clause_formula(conflict, i) for i, c in enumerate(conflict.clauses) if c.side == helpful.id]
            if not helpful_wins or not view.solver.satisfiable(both, view.solver.any_of(*helpful_wins)):
                return True
    return False


def check_over_refusal(view: DeploymentView) -> list[Diagnostic]:
    aims = {p.id: principle_aim(p, view.shared) for p in view.deployment.principles}
    harmful = [p for p in view.deployment.principles if aims[p.id] == "harm"]
    helpful = [p for p in view.deployment.principles if aims[p.id] in ("help", "balanced")]
    if not harmful:
        return []
    related = [Related(span=p.node.name.span, message=f"harm-avoidance principle `{p.id}`") for p in harmful[:5]]
    if not helpful:
        names = ", ".join(f"`{p.id}`" for p in harmful[:5])
        return [
            msg.OVER_REFUSAL_NO_HELP.at(
                view.anchor(), harmful=names, related=related, help="add a helpfulness principle (tag it `helpful`) so refusing is not always the safest answer"
            )
        ]
    if all(_dominated(view, p, harmful) for p in helpful):
        names = ", ".join(f"`{p.id}`" for p in helpful[:5])
        return [
            msg.OVER_REFUSAL_DOMINATED.at(
                view.anchor(), helpful=names, related=related, help="let helpfulness win somewhere: a conflict whose clauses prefer it in low-risk contexts"
            )
        ]
    return []


def check_undeclared_conflicts(view: DeploymentView) -> list[Diagnostic]:
    """W304: a helpfulness and a harm-avoidance principle that nothing relates.

    A pair is flagged when the two can apply together, no priority chain or
    conflict relates them, and at least one of them has not been weighed
    against any principle of the other aim anywhere in the deployment. A
    principle the author already ordered against one harm principle (say,
    `helpful` in a conflict with `harmless.least_harmful`) is not flagged
    against every sibling of that principle in an imported module.
    """
    aims = {p.id: principle_aim(p, view.shared) for p in view.deployment.principles}
    helpful = [p for p in view.deployment.principles if aims[p.id] == "help"]
    harmful = [p for p in view.deployment.principles if aims[p.id] == "harm"]
    if not helpful or not harmful:
        return []
    conflicts = {frozenset((c.left, c.right)) for c in view.deployment.conflicts}

    def related(a: str, b: str) -> bool:
        return frozenset((a, b)) in conflicts or view.graph.outranks(a, b) or view.graph.outranks(b, a)

    weighed = {p.id for p in helpful if any(related(p.id, h.id) for h in harmful)}
    weighed |= {h.id for h in harmful if any(related(p.id, h.id) for p in helpful)}
    found = []
    for help_p in helpful:
        for harm_p in harmful:
            if related(help_p.id, harm_p.id) or (help_p.id in weighed and harm_p.id in weighed):
                continue
            if not view.solver.satisfiable(_applies(view, help_p), _applies(view, harm_p)):
                continue
            later, earlier = _primary_first(view, help_p, harm_p)
            found.append(
                msg.UNDECLARED_CONFLICT.at(
                    later.node.name.span,
                    first=help_p.id,
                    second=harm_p.id,
                    related=[Related(span=earlier.node.name.span, message=f"`{earlier.id}` declared here")],
                    help=f"add `priority {harm_p.id} > {help_p.id}` (or the reverse), or a `conflict {help_p.id} vs {harm_p.id}` with clauses",
                )
            )
    return found


def _primary_first(view: DeploymentView, a: PrincipleDef, b: PrincipleDef) -> tuple[PrincipleDef, PrincipleDef]:
    """Which of two principles a finding should point at: one in the user's own
    file rather than an imported module, else the one declared later."""
    root = view.constitution.anchor.file
    ranked = sorted((a, b), key=lambda p: (p.node.span.file == root, p.node.span.file, p.node.span.start), reverse=True)
    return ranked[0], ranked[1]


def _content_words(principle: PrincipleDef) -> frozenset[str]:
    node = principle.node
    text = " ".join(t.value for t in (node.description, node.critique, node.revision, node.compare) if t is not None)
    return frozenset(w for w in words(text) if w not in EMPTY_WORDS)


def near_duplicate_pairs(sets: list[frozenset[str]], threshold: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j), i < j, of sets with Jaccard similarity >= threshold.

    Identical sets are grouped first: each later copy pairs with the first
    one only, so a thousand copies cost a thousand steps, not a million.
    The distinct sets then go through the AllPairs prefix filter: visited
    from smallest to largest, words ordered rarest first, a set probes the
    index with its first `len - ceil(t * len) + 1` words and is indexed under
    its first `len - ceil(2t / (1 + t) * len) + 1`; any pair this similar
    must meet there, so only pairs sharing a rare word are compared.
    """
    pairs: list[tuple[int, int, float]] = []
    first_of: dict[frozenset[str], int] = {}
    distinct: list[int] = []
    for i, s in enumerate(sets):
        if not s:
            continue
        if s in first_of:
            pairs.append((first_of[s], i, 1.0))
        else:
            first_of[s] = i
            distinct.append(i)
    frequency: dict[str, int] = {}
    for i in distinct:
        for word in sets[i]:
            frequency[word] = frequency.get(word, 0) + 1
    index_share = 2 * threshold / (1 + threshold)
    index: dict[str, list[int]] = {}
    for i in sorted(distinct, key=lambda k: (len(sets[k]), k)):
        s = sets[i]
        size = len(s)
        ordered = sorted(s, key=lambda w: (frequency[w], w))
        candidates: set[int] = set()
        for word in ordered[: size - math.ceil(threshold * size) + 1]:
            candidates.update(index.get(word, ()))
        for j in candidates:
            other = sets[j]
            if len(other) < threshold * size:
                continue
            similarity = len(s & other) / len(s | other)
            if similarity >= threshold:
                pairs.append((min(i, j), max(i, j), similarity))
        for word in ordered[: size - math.ceil(index_share * size) + 1]:
            index.setdefault(word, []).append(i)
    return sorted(pairs)


def _all_near_duplicates(view: DeploymentView) -> list[tuple[PrincipleDef, PrincipleDef, float]]:
    """Near-duplicate pairs among every principle any deployment enables, computed once."""
    if "near_duplicates" not in view.shared:
        everything: dict = {}
        for principle in view.constitution.principles.values():
            everything[principle.node.span] = principle
        for deployment in view.constitution.deployments.values():
            for principle in deployment.principles:
                everything[principle.node.span] = principle
        principles = list(everything.values())
        sets = [_content_words(p) for p in principles]
        view.shared["near_duplicates"] = [
            (principles[i], principles[j], similarity) for i, j, similarity in near_duplicate_pairs(sets, NEAR_DUPLICATE_THRESHOLD)
        ]
    return view.shared["near_duplicates"]


def check_near_duplicates(view: DeploymentView) -> list[Diagnostic]:
    enabled = {p.node.span for p in view.deployment.principles}
    found = []
    for one, two, similarity in _all_near_duplicates(view):
        if one.node.span not in enabled or two.node.span not in enabled:
            continue
        second, first = _primary_first(view, one, two)
        if view.name not in (first.origin, second.origin):
            continue  # reported in the deployment that declared one of them
        found.append(
            msg.NEAR_DUPLICATE.at(
                second.node.name.span,
                first=first.id,
                second=second.id,
                similarity=similarity,
                related=[Related(span=first.node.name.span, message=f"`{first.id}` declared here")],
                help="merge them, or raise one principle's weight instead of repeating it",
            )
        )
    return found


def check_unused(program: Program, constitution: Constitution) -> list[Diagnostic]:
    """W306 over the whole constitution: actions no rule uses, variables no condition reads."""
    used_actions = {r.action for r in constitution.rules.values()}
    for deployment in constitution.deployments.values():
        used_actions |= {r.action for r in deployment.rules}
    read: set[str] = set()
    for module in program.modules.values():
        for declaration in module.declarations:
            for cond in conditions_of(declaration):
                read |= variables_read(cond)
    found = [msg.UNUSED_ACTION.at(a.span, name=a.id) for a in constitution.actions.values() if a.id not in used_actions]
    found += [msg.UNUSED_VARIABLE.at(v.span, name=v.name) for v in constitution.context.values() if v.name not in read]
    return found


LINT_PASSES = (check_vague, check_one_phase, check_over_refusal, check_undeclared_conflicts, check_near_duplicates)
