"""Property tests for `caic diff` on random small constitutions: a reordered
and reformatted copy reports nothing (and keeps every hash); changing one
rule's condition is reported as a verdict change exactly when brute-force
enumeration finds a context where the resolved verdict differs."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracle import assignments, verdict

from cai_lang.api import check_file
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.review.diff import diff_files

ENUMS = {"risk": ["low", "medium", "high"], "tier": ["free", "pro"]}
BOOLS = ["minor", "urgent"]


def atoms(bools, enums):
    options = [st.sampled_from(["true", "false"])]
    if bools:
        options.append(st.sampled_from(bools))
    for name in enums:
        values = ENUMS[name]
        options.append(st.builds(lambda op, v, n=name: f"{n} {op} {v}", st.sampled_from(["==", "!=", "<", ">="]), st.sampled_from(values)))
    return st.one_of(options)


def conditions(bools, enums):
    return st.recursive(
        atoms(bools, enums),
        lambda inner: st.one_of(
            st.builds(lambda c: f"not ({c})", inner),
            st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
            st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        ),
        max_leaves=4,
    )


@st.composite
def constitutions(draw):
    bools = draw(st.lists(st.sampled_from(BOOLS), max_size=2, unique=True))
    enums = draw(st.lists(st.sampled_from(sorted(ENUMS)), min_size=0 if bools else 1, max_size=2, unique=True))
    cond = conditions(bools, enums)
    rules = draw(st.lists(st.tuples(st.sampled_from(["never", "always"]), cond), min_size=1, max_size=4))
    applies = draw(st.lists(cond, min_size=1, max_size=2))
    index = draw(st.integers(0, len(rules) - 1))
    replacement = draw(cond)
    assume = draw(st.one_of(st.none(), cond))
    return bools, enums, rules, applies, index, replacement, assume


def blocks(case, rules=None) -> list[str]:
    bools, enums, drawn, applies, _index, _replacement, assume = case
    rules = rules if rules is not None else drawn
    lines = [f"    {b}: bool" for b in bools] + [f"    {e}: {' | '.join(ENUMS[e])}" for e in enums]
    out = ["context {\n" + "\n".join(lines) + "\n}", 'action act "do the thing"']
    for i, (kind, cond) in enumerate(rules):
        out.append(f"rule r{i} {{\n    {kind} act when {cond}\n}}")
    # One chain over every rule: any never/always overlap is resolved by priority.
    if len(rules) > 1:
        out.append("priority " + " > ".join(f"r{i}" for i in range(len(rules))))
    for i, cond in enumerate(applies):
        out.append(
            f"principle p{i} {{\n    critique \"Point out where the answer ignores criterion {i}.\"\n"
            f"    revision \"Rewrite the answer to meet criterion {i}.\"\n    compare \"Which answer meets criterion {i}?\"\n    applies when {cond}\n}}"
        )
    if assume is not None:
        out.append(f"deployment scoped {{\n    assume {assume}\n}}")
    return out


HEADER = 'constitution generated { version "1" }\n'


def reformat(block: str) -> str:
    flat = re.sub(r"\s*\n\s*", "   ", block)
    flat = re.sub(r"when (.*?)(   \}|   applies|$)", lambda m: f"when ( {m.group(1)} ){m.group(2)}", flat)
    return f"# reordered\n{flat}  # reformatted\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SETTINGS
@given(case=constitutions())
def test_reordered_and_reformatted_reports_nothing(tmp_path, case) -> None:
    parts = blocks(case)
    old = write(tmp_path, "old.const", HEADER + "\n\n".join(parts) + "\n")
    new = write(tmp_path, "new.const", HEADER + "\n".join(reformat(b) for b in reversed(parts)))
    # A random `assume` can be unsatisfiable (E206): not a constitution to diff.
    assume(not check_file(old).errors)
    assert not check_file(new).errors
    result = diff_files(str(old), str(new))
    assert result.changes == []
    assert all(h["old"] == h["new"] for h in result.hashes.values())


@SETTINGS
@given(case=constitutions())
def test_a_changed_rule_condition_is_reported_iff_some_verdict_differs(tmp_path, case) -> None:
    _bools, _enums, rules, _applies, index, replacement, _assume = case
    changed = list(rules)
    changed[index] = (rules[index][0], replacement)
    old = write(tmp_path, "old.const", HEADER + "\n\n".join(blocks(case)) + "\n")
    new = write(tmp_path, "new.const", HEADER + "\n\n".join(blocks(case, changed)) + "\n")
    assume(not check_file(old).errors and not check_file(new).errors)
    old_c, new_c = check_file(old).constitution, check_file(new).constitution
    result = diff_files(str(old), str(new))
    for name in old_c.deployments:
        old_d, new_d = resolve_deployment(old_c, name), resolve_deployment(new_c, name)
        region = [v for v in assignments(old_c.context) if all(_holds(a, v, old_c) for a in old_d.assumptions)]
        differs = [v for v in region if verdict(old_d, "act", v) != verdict(new_d, "act", v)]
        reported = [c for c in result.changes if c.kind == "verdict" and (c.deployment == name or name in c.also_in)]
        assert bool(reported) == bool(differs), (name, differs[:1], reported)
        for change in reported:
            if change.deployment == name:
                assert verdict(old_d, "act", change.witness) == change.old != change.new == verdict(new_d, "act", change.witness)


def _holds(cond, values, constitution) -> bool:
    from cai_lang.ir.conditions import evaluate

    return evaluate(cond, values, constitution.context)
