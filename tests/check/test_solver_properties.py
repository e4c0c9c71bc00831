"""Property tests: the solver's verdicts agree with brute-force enumeration.

Hypothesis generates small contexts (bools and ordered enums) and random
conditions, writes them as `.const` source, and compares what the checker
reports with what enumerating every context gives. Every witness must also
satisfy the conditions it claims to.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cai_lang.api import check_file
from cai_lang.check.solver import ContextSolver
from cai_lang.ir.conditions import evaluate

ENUMS = {"risk": ["low", "medium", "high"], "tier": ["free", "pro"], "phase": ["a", "b", "c", "d"]}
BOOLS = ["minor", "urgent", "authorized"]


@st.composite
def contexts(draw):
    bools = draw(st.lists(st.sampled_from(BOOLS), min_size=0, max_size=3, unique=True))
    enums = draw(st.lists(st.sampled_from(sorted(ENUMS)), min_size=0 if bools else 1, max_size=2, unique=True))
    return bools, enums


def atoms(bools, enums):
    options = [st.sampled_from(["true", "false"])]
    if bools:
        options.append(st.sampled_from(bools))
        options.append(st.builds(lambda v, b: f"{v} {'==' if b else '!='} {'true' if b else 'false'}", st.sampled_from(bools), st.booleans()))
    for name in enums:
        values = ENUMS[name]
        options.append(
            st.builds(lambda op, v, n=name: f"{n} {op} {v}", st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), st.sampled_from(values))
        )
        options.append(st.builds(lambda vs, n=name: f"{n} in {{{', '.join(vs)}}}", st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)))
    return st.one_of(options)


def conditions(bools, enums):
    return st.recursive(
        atoms(bools, enums),
        lambda inner: st.one_of(
            st.builds(lambda c: f"not ({c})", inner),
            st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
            st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        ),
        max_leaves=6,
    )


def context_block(bools, enums) -> str:
    lines = [f"    {b}: bool" for b in bools] + [f"    {e}: {' | '.join(ENUMS[e])}" for e in enums]
    return "context {\n" + "\n".join(lines) + "\n}\n"


def all_assignments(constitution):
    names = list(constitution.context)
    domains = [[False, True] if v.kind == "bool" else list(v.values) for v in constitution.context.values()]
    for combo in itertools.product(*domains):
        yield dict(zip(names, combo))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "generated.const"
    path.write_text(text, encoding="utf-8")
    return path


@st.composite
def rule_pair(draw):
    bools, enums = draw(contexts())
    cond = conditions(bools, enums)
    return bools, enums, draw(cond), draw(cond), draw(st.sampled_from(["when", "unless"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=rule_pair())
def test_rule_contradiction_matches_enumeration(tmp_path, case) -> None:
    bools, enums, first, second, guard = case
    text = (
        context_block(bools, enums)
        + 'action act "do the thing"\n'
        + f"rule forbid {{ never act {guard} {first} }}\n"
        + f"rule require {{ always act when {second} }}\n"
    )
    result = check_file(write(tmp_path, text))
    constitution = result.constitution
    forbid = constitution.rules["forbid"].node.effective_condition
    require = constitution.rules["require"].node.effective_condition
    overlap = [a for a in all_assignments(constitution) if evaluate(forbid, a, constitution.context) and evaluate(require, a, constitution.context)]
    reported = [d for d in result.diagnostics if d.code == "E202"]
    assert bool(reported) == bool(overlap)
    for finding in reported:
        assert evaluate(forbid, finding.witness, constitution.context)
        assert evaluate(require, finding.witness, constitution.context)
        assert set(finding.witness) == set(constitution.context)


@st.composite
def conflict_case(draw):
    bools, enums = draw(contexts())
    cond = conditions(bools, enums)
    clauses = draw(st.lists(st.tuples(st.sampled_from(["left", "right"]), cond), min_size=1, max_size=3))
    otherwise = draw(st.sampled_from([None, "left", "right"]))
    applies = draw(st.one_of(st.none(), cond))
    return bools, enums, clauses, otherwise, applies


PRINCIPLE = (
    "principle {name} {{\n"
    '    critique "Point out where the answer ignores the {name} criterion."\n'
    '    revision "Rewrite the answer to satisfy the {name} criterion."\n'
    '    compare "Which answer better satisfies the {name} criterion?"\n'
    "{applies}}}\n"
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conflict_case())
def test_conflict_checks_match_enumeration(tmp_path, case) -> None:
    bools, enums, clauses, otherwise, applies = case
    text = context_block(bools, enums)
    text += PRINCIPLE.format(name="left", applies=f"    applies when {applies}\n" if applies else "")
    text += PRINCIPLE.format(name="right", applies="")
    body = "".join(f"    prefer {side} when {c}\n" for side, c in clauses)
    if otherwise:
        body += f"    prefer {otherwise} otherwise\n"
    text += "conflict left vs right {\n" + body + "}\n"
    result = check_file(write(tmp_path, text))
    constitution = result.constitution
    conflict = constitution.conflicts[0]
    ctx = constitution.context
    both = constitution.principles["left"].node.applies

    def matches(assignment):
        when = [c for c in conflict.clauses if c.condition is not None and evaluate(c.condition, assignment, ctx)]
        if not when and any(c.condition is None for c in conflict.clauses):
            when = [c for c in conflict.clauses if c.condition is None]
        return {c.side for c in when}

    contexts_both = [a for a in all_assignments(constitution) if evaluate(both, a, ctx)]
    undecided = [a for a in contexts_both if not matches(a)]
    ambiguous = [a for a in contexts_both if len(matches(a)) == 2]
    codes = [d.code for d in result.diagnostics]
    assert ("E203" in codes) == bool(undecided)
    assert ("E204" in codes) == bool(ambiguous)
    for finding in result.diagnostics:
        if finding.code == "E203":
            assert evaluate(both, finding.witness, ctx) and not matches(finding.witness)
        if finding.code == "E204":
            assert evaluate(both, finding.witness, ctx) and len(matches(finding.witness)) == 2


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_solver_satisfiability_with_assumptions(tmp_path, data) -> None:
    bools, enums = data.draw(contexts())
    cond = conditions(bools, enums)
    assumption, query = data.draw(cond), data.draw(cond)
    text = context_block(bools, enums) + PRINCIPLE.format(name="p", applies=f"    applies when {query}\n")
    text += f"deployment d {{\n    assume {assumption}\n}}\n"
    result = check_file(write(tmp_path, text))
    constitution = result.constitution
    ctx = constitution.context
    assume_node = constitution.deployments["d"].assumptions[0]
    query_node = constitution.principles["p"].node.applies
    solver = ContextSolver(ctx, [assume_node])
    witness = solver.find(solver.encode(query_node))
    expected = [a for a in all_assignments(constitution) if evaluate(assume_node, a, ctx) and evaluate(query_node, a, ctx)]
    assert (witness is not None) == bool(expected)
    if witness is not None:
        assert evaluate(assume_node, witness, ctx) and evaluate(query_node, witness, ctx)
    assume_possible = any(evaluate(assume_node, a, ctx) for a in all_assignments(constitution))
    assert ("E206" in {d.code for d in result.diagnostics}) == (not assume_possible)
