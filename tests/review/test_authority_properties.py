"""Language 1.2 authority checks against brute-force enumeration of contexts.

Hypothesis writes small constitutions with `by user` variables, hard and
ordinary rules on one action and a deployment that may assume something;
every finding of E211 / W311, every `expect users can/cannot change`, and
`who_can_change` is compared with what enumerating every pair of contexts
gives (`tests/review/oracle.py`, written apart from the solver code). Every
witness pair must lie in the region, differ only in user-set variables and
show the difference it claims.
"""

from __future__ import annotations

from pathlib import Path

import hypothesis
import oracle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cai_lang.api import check_file
from cai_lang.check.authority import who_can_change
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.review.tests import Runner

ENUMS = {"risk": ["low", "medium", "high"]}


def conditions(bools, enums):
    """Small random conditions over the variables (the solver property tests use a wider mix)."""
    atom = st.one_of(
        st.sampled_from(["true", "false"] + bools),
        st.builds(lambda v: f"not {v}", st.sampled_from(bools)),
        st.builds(lambda op, v: f"risk {op} {v}", st.sampled_from(["==", "!=", "<", ">="]), st.sampled_from(ENUMS["risk"])),
    )
    return st.recursive(
        atom,
        lambda inner: st.one_of(st.builds(lambda a, b: f"({a}) and ({b})", inner, inner), st.builds(lambda a, b: f"({a}) or ({b})", inner, inner)),
        max_leaves=4,
    )

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def constitutions(draw):
    """(source, bools, enums, user-set names): one action, two rules, a deployment `d`."""
    bools = ["minor", "urgent"]
    enums = ["risk"]
    users = draw(st.lists(st.sampled_from(bools + enums), min_size=0, max_size=3, unique=True))
    cond = conditions(bools, enums)
    lines = ["context {"]
    for b in bools:
        lines.append(f'    {b}: bool "whether {b}"' + (" by user" if b in users else ""))
    lines.append(f"    risk: {' | '.join(ENUMS['risk'])}" + (" by user" if "risk" in users else ""))
    lines.append("}")
    lines.append('action act "do the thing"')
    first_hard = draw(st.booleans())
    lines.append(f"{'hard ' if first_hard else ''}rule first {{\n    {draw(st.sampled_from(['never', 'always']))} act {draw(st.sampled_from(['when', 'unless']))} {draw(cond)}\n}}")
    lines.append(f"{'hard ' if draw(st.booleans()) else ''}rule second {{\n    {draw(st.sampled_from(['never', 'always']))} act when {draw(cond)}\n}}")
    lines.append("priority first > second")
    lines.append(f"deployment d {{\n    assume {draw(cond)}\n}}")
    given_cond = draw(cond)
    lines.append(f"test pair {{\n    deployment d\n    given {given_cond}\n    expect users cannot change act\n}}")
    lines.append(f"test pair_can {{\n    deployment d\n    given {given_cond}\n    expect users can change act\n}}")
    return "\n".join(lines) + "\n", users


def _pairs(deployment, users, given=None):
    """Every pair of region contexts that differ only in `users` variables."""
    region = [v for v in oracle.assignments(deployment.context) if oracle.in_region(deployment, given, v)]
    for a in region:
        for b in region:
            if a is not b and all(a[k] == b[k] for k in a if k not in users):
                yield a, b


def _same_outside(a: dict, b: dict, users) -> bool:
    return all(a[k] == b[k] for k in a if k not in users)


@SETTINGS
@given(constitutions())
def test_e211_and_w311_match_enumeration(tmp_path: Path, case) -> None:
    source, users = case
    path = tmp_path / "gen.const"
    path.write_text(source, encoding="utf-8")
    result = check_file(path)
    assert not [d for d in result.diagnostics if d.code in ("E001", "E101", "E106", "E107")], source
    constitution = result.constitution
    for name in constitution.deployments:
        deployment = resolve_deployment(constitution, name)
        region = [v for v in oracle.assignments(deployment.context) if oracle.in_region(deployment, None, v)]
        for rule in deployment.rules:
            if not rule.node.hard:
                continue
            found = [d for d in result.diagnostics if d.code == "E211" and f"`{rule.id}`" in d.message]
            # A finding shared by several deployments is reported once, for the first.
            mine = [d for d in found if d.deployment == name or f"`{name}`" in d.message]
            changes = [
                (a, b)
                for a, b in _pairs(deployment, users)
                if oracle.applies(deployment, rule.id, a) != oracle.applies(deployment, rule.id, b)
                or (oracle.applies(deployment, rule.id, a) and oracle.verdict(deployment, "act", a) != oracle.verdict(deployment, "act", b))
            ]
            if region and changes:
                assert found, (source, name, rule.id, changes[0])
            if not changes:
                assert not mine, (source, name, rule.id)
            for d in mine:
                if d.deployment != name:
                    continue
                a, b = d.witness, d.witness_other
                assert oracle.in_region(deployment, None, a) and oracle.in_region(deployment, None, b)
                assert _same_outside(a, b, users) and a != b
                assert (a, b) in changes or (b, a) in changes
            applies_somewhere = any(oracle.applies(deployment, rule.id, v) for v in region)
            can_hold = any(oracle.applies(deployment, rule.id, v) for v in oracle.assignments(deployment.context))
            w311 = [d for d in result.diagnostics if d.code == "W311" and f"`{rule.id}`" in d.message and f"deployment `{name}`" in d.message]
            expected = bool(region) and not applies_somewhere and can_hold and bool(deployment.assumptions)
            assert bool(w311) == expected, (source, name, rule.id)


@SETTINGS
@given(constitutions())
def test_users_expectations_and_permissions_match_enumeration(tmp_path: Path, case) -> None:
    source, users = case
    path = tmp_path / "gen.const"
    path.write_text(source, encoding="utf-8")
    result = check_file(path)
    deployment = resolve_deployment(result.constitution, "d")
    outcomes = {r.name: r for r in Runner(result).run()}
    if not outcomes:
        return  # the test's region is empty or the deployment cannot hold: nothing to compare
    given_cond = next(t for t in result.program.root_module.declarations if getattr(t, "name", None) and t.name.value == "pair").given
    differing = [(a, b) for a, b in _pairs(deployment, users, given_cond) if oracle.verdict(deployment, "act", a) != oracle.verdict(deployment, "act", b)]
    if outcomes["pair"].vacuous:
        return
    assert outcomes["pair"].passed == (not differing), source
    assert outcomes["pair_can"].passed == bool(differing), source
    for failure in outcomes["pair"].failures:
        a, b = failure.witness, failure.witness_other
        assert oracle.in_region(deployment, given_cond, a) and oracle.in_region(deployment, given_cond, b)
        assert _same_outside(a, b, users)
        assert oracle.verdict(deployment, "act", a) != oracle.verdict(deployment, "act", b)
    # Who can change the verdict over the whole deployment, by enumeration.
    region = [v for v in oracle.assignments(deployment.context) if oracle.in_region(deployment, None, v)]
    whole = [(a, b) for a, b in _pairs(deployment, users) if oracle.verdict(deployment, "act", a) != oracle.verdict(deployment, "act", b)]
    answer = who_can_change(deployment, "act")
    if whole:
        assert answer["who"] == "user"
        alone = [u for u in deployment.context if u in users and any(all(a[k] == b[k] for k in a if k != u) for a, b in whole)]
        assert answer["variables"] == (alone or [u for u in deployment.context if u in users])
    else:
        hard = [r for r in deployment.rules if r.node.hard]
        constant = {
            verdict
            for verdict in ("never", "always")
            if region and all(any(r.node.verdict == verdict and oracle.applies(deployment, r.id, v) for r in hard) for v in region)
        }
        assert answer["who"] == ("nobody" if constant else "operator"), source


@SETTINGS
@given(constitutions(), st.sampled_from(["minor", "urgent", "risk"]))
def test_diff_authority_matches_enumeration(tmp_path: Path, case, flipped: str) -> None:
    """Toggle who sets one variable: `caic diff` reports kind `authority` exactly where
    enumeration finds users able to change the verdict in one version only."""
    from cai_lang.review.diff import diff_files

    source, users = case
    source = source.replace("hard rule", "rule")  # hard-rule errors (E210, E211) would stop the diff
    old_path, new_path = tmp_path / "old.const", tmp_path / "new.const"
    old_path.write_text(source, encoding="utf-8")
    hypothesis.assume(not check_file(old_path).errors)  # an assumption that cannot hold (E206)
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith(f"{flipped}:"):
            lines[i] = line.replace(" by user", "") if " by user" in line else line + " by user"
    new_path.write_text("\n".join(lines), encoding="utf-8")
    new_users = [u for u in users if u != flipped] + ([] if flipped in users else [flipped])
    old_c, new_c = check_file(old_path).constitution, check_file(new_path).constitution
    result = diff_files(str(old_path), str(new_path))
    assert any(c.kind == "context" and c.item == flipped and c.change == "by changed" for c in result.changes)
    for name in old_c.deployments:
        old_d, new_d = resolve_deployment(old_c, name), resolve_deployment(new_c, name)
        old_can = any(oracle.verdict(old_d, "act", a) != oracle.verdict(old_d, "act", b) for a, b in _pairs(old_d, users))
        new_can = any(oracle.verdict(new_d, "act", a) != oracle.verdict(new_d, "act", b) for a, b in _pairs(new_d, new_users))
        found = [c for c in result.changes if c.kind == "authority" and (c.deployment == name or name in c.also_in)]
        assert bool(found) == (old_can != new_can), (source, name, flipped)
        for change in found:
            if change.deployment != name:
                continue
            d, free = (new_d, new_users) if new_can else (old_d, users)
            a, b = change.witness, change.witness_other
            assert oracle.in_region(d, None, a) and oracle.in_region(d, None, b) and _same_outside(a, b, free)
            assert oracle.verdict(d, "act", a) != oracle.verdict(d, "act", b)
