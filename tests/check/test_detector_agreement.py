"""Issue 29: the detector verdicts of `caic test`, `caic eval` and the RLAIF labeller agree.

For every shipped constitution with a `detect regex` rule, hypothesis draws
responses: strings the pattern matches under Python's Unicode `re` (so
Arabic-Indic and full-width digits, accented letters and final newlines
turn up), mutations of those, and arbitrary text. Each response is judged
three ways, through each command's own entry point: an `expect detect` line
run by `caic test`'s runner, `caic eval`'s `judge_violations`, and the
labeller's `judge_exactly` against an empty response. All three must agree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cai_lang.api import check_file, compile_file
from cai_lang.detector import detector_matches
from cai_lang.syntax.strings import encode_literal

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for folder in ("stdlib_constitutions", "examples") for p in (REPO / folder).glob("*.const") if "detect regex" in p.read_text())


def _rules(path: Path) -> list:
    bundle = compile_file(path)[0]
    return bundle, [rule for rule in bundle.rules if rule.detect]


def _texts(pattern: str):
    matching = st.from_regex(re.compile(pattern), fullmatch=False)
    mutated = st.tuples(matching, st.sampled_from(["\n", "\u0663", "\uff13", "\u00e9", " x", ""])).map(lambda pair: pair[0] + pair[1])
    return st.one_of(matching, mutated, st.text(max_size=40))


def _caic_test(path: Path, tmp_path: Path, cases: list[tuple[str, str]]) -> list[bool]:
    """Whether each (rule, text) matches, as `caic test` sees it: one `expect detect` per case."""
    from cai_lang.review.tests import Runner

    lines = [f"    expect detect {rule} {encode_literal(text, '    ')}" for rule, text in cases]
    copy = tmp_path / path.name
    copy.write_text(path.read_text(encoding="utf-8") + "\ntest agreement {\n" + "\n".join(lines) + "\n}\n", encoding="utf-8")
    result = check_file(copy)
    assert not result.errors, [d.message for d in result.errors][:3]
    (outcome,) = [r for r in Runner(result).run() if r.name == "agreement"]
    assert not outcome.not_judged
    first = next(t for t in result.program.root_module.declarations if getattr(getattr(t, "name", None), "value", None) == "agreement")
    failed = {f.line for f in outcome.failures}
    return [expect.span.line not in failed for expect in first.expects]


def _caic_eval(bundle, rule, text: str, monkeypatch) -> bool:
    from cai_lang.eval import run as eval_run

    monkeypatch.setattr(eval_run, "applicable_items", lambda bundle, context: [rule])
    row = {"prompt": "q", "response": text, "context": {}}
    eval_run.judge_violations(bundle, [row], None, None)
    return row["violations"][rule.id]


def _labeller(rule, text: str) -> bool:
    from cai_lang.train.rl.aggregate import judge_exactly

    assert not detector_matches(rule.detect, "")
    return judge_exactly(rule, text, "") == 0.0


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
@settings(max_examples=4, deadline=None, derandomize=True, phases=(Phase.explicit, Phase.generate), suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_test_eval_and_labeller_agree(path: Path, tmp_path: Path, monkeypatch, data) -> None:
    bundle, rules = _rules(path)
    assert rules
    cases = [(rule, data.draw(_texts(rule.detect), label=rule.id)) for rule in rules for _ in range(3)]
    by_test = _caic_test(path, tmp_path, [(rule.id, text) for rule, text in cases])
    for (rule, text), seen_by_test in zip(cases, by_test):
        by_eval = _caic_eval(bundle, rule, text, monkeypatch)
        by_labeller = _labeller(rule, text)
        assert seen_by_test == by_eval == by_labeller == detector_matches(rule.detect, text), (rule.id, text)
