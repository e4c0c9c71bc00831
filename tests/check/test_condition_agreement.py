"""The checker and the trainer agree on what every condition means.

The checker decides conditions with z3 (`check.solver.Encoder`); the
trainer decides the bundle's span-free trees with `codegen.conditions.decide`
after reading them back from JSON. For every condition a compiled bundle
carries (each shipped constitution, each of its deployments, and generated
constitutions), both must give the same answer in every full context, and
the trainer's three-valued answer on partial labels must be what the solver
proves over the unlabelled variables within the deployment's assumptions.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from test_solver_properties import conditions, context_block, contexts

from cai_lang.api import check_file, compile_checked
from cai_lang.check.solver import ContextSolver, Encoder
from cai_lang.codegen.bundle import Bundle
from cai_lang.codegen.conditions import Expr, decide

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "stdlib_constitutions").glob("*.const")) + sorted((ROOT / "examples").rglob("*.const"))


def _trees(value):
    """Every condition tree in a bundle's JSON form, wherever it sits."""
    if isinstance(value, dict):
        if set(value) >= {"tree", "text"}:
            yield value["tree"]
        for item in value.values():
            yield from _trees(item)
    elif isinstance(value, list):
        for item in value:
            yield from _trees(item)


def _settings(schema, names):
    domains = [(False, True) if schema[n].kind == "bool" else schema[n].values for n in names]
    for combo in itertools.product(*domains):
        yield dict(zip(names, combo))


def _constant(schema, name, value):
    return z3.BoolVal(value) if schema[name].kind == "bool" else z3.IntVal(schema[name].values.index(value))


def _pinned(encoder: Encoder, schema, labels) -> list:
    return [encoder.symbols[name] == _constant(schema, name, value) for name, value in labels.items()]


def _solver_decides(within: ContextSolver, anywhere: ContextSolver, tree, pins):
    """The solver's three-valued answer: True if the condition holds in every allowed setting of the
    unlabelled variables, False in none, None otherwise; labels that contradict the assumptions drop them."""
    solver = within if within.find(*pins) is not None else anywhere
    formula = solver.encode(tree)
    holds = solver.find(formula, *pins) is not None
    fails = solver.find(z3.Not(formula), *pins) is not None
    return None if holds and fails else holds


def assert_bundle_agrees(bundle) -> int:
    """Compare checker and trainer on every condition of `bundle` as the trainer reads it; returns how many."""
    reread = Bundle.model_validate_json(bundle.model_dump_json())
    schema = reread.context_schema()
    assumptions = [a.tree for a in reread.deployment.assumptions]
    names = sorted(schema)
    trees = [TypeAdapter(Expr).validate_python(t) for t in _trees(reread.model_dump(mode="json"))]
    encoder = Encoder(schema)
    within, anywhere = ContextSolver(schema, assumptions), ContextSolver(schema)
    for tree in trees:
        formula = encoder.encode(tree)
        for setting in _settings(schema, names):
            pins = [(encoder.symbols[n], _constant(schema, n, v)) for n, v in setting.items()]
            checker = z3.is_true(z3.simplify(z3.substitute(formula, *pins)))
            assert decide(tree, setting, schema) is checker, (tree, setting)
        # Partial labels: none, or one variable known (every value of each), as a trainer often has.
        for subset in [()] + [(n,) for n in names]:
            for labels in _settings(schema, subset):
                expected = _solver_decides(within, anywhere, tree, _pinned(encoder, schema, labels))
                assert decide(tree, labels, schema, assumptions) == expected, (tree, labels)
    return len(trees)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_conditions_mean_the_same_to_checker_and_trainer(path: Path) -> None:
    result = check_file(path)
    assert not result.errors, [d.code for d in result.errors]
    bundles = compile_checked(result, all_deployments=True)
    assert sum(assert_bundle_agrees(b) for b in bundles) > 0


@st.composite
def generated(draw):
    bools, enums = draw(contexts())
    cond = conditions(bools, enums)
    if bools:  # a bool tested for membership (`urgent in {true}`), which the solver's strategies never write
        members = st.lists(st.sampled_from(["true", "false"]), min_size=1, max_size=2, unique=True)
        membership = st.builds(lambda v, vs: f"{v} in {{{', '.join(vs)}}}", st.sampled_from(bools), members)
        cond = st.one_of(membership, st.builds(lambda a, b: f"({a}) and ({b})", membership, cond), cond)
    return bools, enums, draw(cond), draw(cond), draw(st.sampled_from(["when", "unless"])), draw(st.one_of(st.none(), cond))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=generated())
def test_generated_conditions_mean_the_same_to_checker_and_trainer(tmp_path, case) -> None:
    bools, enums, applies, guard_cond, guard, assume = case
    text = context_block(bools, enums) + 'action act "do the thing"\n'
    text += (
        'principle kind {\n    critique "Point out unkindness."\n    revision "Rewrite it kindly."\n'
        f'    compare "Which answer is kinder?"\n    applies when {applies}\n}}\n'
    )
    text += f"rule guarded {{ never act {guard} {guard_cond} }}\n"
    if assume is not None:
        text += f"deployment narrowed {{\n    assume {assume}\n}}\n"
    path = tmp_path / "generated.const"
    path.write_text(text, encoding="utf-8")
    result = check_file(path)
    if result.errors:  # an unsatisfiable `assume` is an error; the rest still compiles without it
        assert assume is not None
        path.write_text(text.split("deployment narrowed")[0], encoding="utf-8")
        result = check_file(path)
    assert not result.errors, [d.code for d in result.errors]
    for bundle in compile_checked(result, all_deployments=True):
        assert assert_bundle_agrees(bundle) >= 2
