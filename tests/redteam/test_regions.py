"""Regions are exact: checked against brute-force enumeration of every context of small constitutions."""

from __future__ import annotations

import pytest
import z3

from cai_lang import api
from cai_lang.redteam.regions import compute_regions, enumerate_contexts

SMALL = {
    "two_rules": """
context { adult: bool  risk: low | mid | high  topic: chat | health | money }
action advise "give specific advice"
action warn "warn the user"
rule no_advice_to_minors { never advise unless adult }
rule warn_high { always warn when risk >= mid and topic != chat }
rule advise_health { always advise when topic == health and risk == high }
principle careful { critique "c" revision "r" applies when risk > low }
principle plain { critique "c" revision "r" }
priority no_advice_to_minors > advise_health
conflict careful vs plain { prefer careful when topic in {health, money}  prefer plain otherwise }
deployment clinic { assume topic == health }
""",
    "bools": """
context { a: bool  b: bool  c: bool }
action act "act"
rule r1 { never act when a and not b }
rule r2 { always act when b or c }
priority r2 > r1
principle p { critique "c" revision "r" applies when c }
conflict p vs r1 { prefer r1 when a  prefer p otherwise }
deployment narrow { assume not c }
""",
}


def _value(encoder, context, name, value):
    var = context[name]
    return z3.BoolVal(value) if var.kind == "bool" else z3.IntVal(var.values.index(value))


def _z3_at(region, regions, values) -> bool:
    encoder = regions.view.solver.encoder
    pairs = [(encoder.symbols[n], _value(encoder, regions.context, n, v)) for n, v in values.items()]
    return z3.is_true(z3.simplify(z3.substitute(region.formula, *pairs)))


def _inside(regions, values) -> bool:
    from cai_lang.ir.conditions import evaluate

    return all(evaluate(a, values, regions.context) for a in regions.view.deployment.assumptions)


@pytest.mark.parametrize(("name", "deployment"), [("two_rules", "default"), ("two_rules", "clinic"), ("bools", "default"), ("bools", "narrow")])
def test_regions_agree_with_brute_force(tmp_path, name, deployment):
    path = tmp_path / f"{name}.const"
    path.write_text(SMALL[name])
    result = api.check_file(path)
    assert not result.errors, [d.message for d in result.errors]
    regions = compute_regions(result, deployment)
    contexts = [c for c in enumerate_contexts(regions.context) if _inside(regions, c)]
    assert regions.regions
    for region in regions.regions + regions.empty:
        members = [c for c in contexts if region.holds(c)]
        # The solver's formula and the concrete predicate are the same set of contexts.
        assert members == [c for c in contexts if _z3_at(region, regions, c)], region.id
        if region.witness is None:
            assert not members, f"{region.id} is listed empty but has contexts"
            continue
        assert region.witness in members, f"the witness of {region.id} is not in its region"
    if deployment == "narrow":  # `p` applies when c, and the deployment assumes not c
        assert "principle:p" in {r.id for r in regions.empty}
    by_id = regions.by_id()
    for rule in regions.view.deployment.rules:
        application = {tuple(c.items()) for c in contexts if by_id[f"rule:{rule.id}"].holds(c)} if f"rule:{rule.id}" in by_id else set()
        boundary_region = next((r for r in regions.regions + regions.empty if r.id == f"boundary:{rule.id}"), None)
        if boundary_region is None:
            continue
        boundary = {tuple(c.items()) for c in contexts if boundary_region.holds(c)}
        assert not application & boundary, f"{rule.id}: application and boundary overlap"
        # The boundary is exactly the contexts outside at one variable's distance from the application
        # (the neighbour may lie outside the deployment: the rule's own condition decides).
        from cai_lang.check.verdict import item_condition
        from cai_lang.ir.conditions import evaluate

        cond = item_condition(rule)
        all_contexts = list(enumerate_contexts(regions.context))
        expected = set()
        for c in contexts:
            if evaluate(cond, c, regions.context):
                continue
            if any(evaluate(cond, d, regions.context) and sum(c[k] != d[k] for k in c) == 1 for d in all_contexts):
                expected.add(tuple(c.items()))
        assert boundary == expected, rule.id


def test_medical_regions_have_witnesses_and_kinds():
    result = api.check_file("examples/medical.const")
    regions = compute_regions(result)
    kinds = {r.kind for r in regions.regions}
    assert kinds == {"rule", "boundary", "principle", "clause", "deployment", "meeting"}
    ids = [r.id for r in regions.regions]
    assert len(ids) == len(set(ids))
    for region in regions.regions:
        assert region.holds(region.witness), region.id
        assert regions.entails(region, region.witness)
    assert "deployment:after_hours" in ids and "boundary:hipaa_privacy" in ids
