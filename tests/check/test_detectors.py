"""Detectors with bounded cost (issue 16, item 2): RE2 where it can run the pattern,
a time limit otherwise, the one helper every caller uses, and the W309 lint."""

from __future__ import annotations

import pytest

from cai_lang import detector
from cai_lang.api import check_file
from cai_lang.check.patterns import pattern_problem
from cai_lang.detector import DetectorTimeout, detector_engine, detector_matches

re2 = pytest.importorskip("re2")

REFUSAL = "I am sorry, but I cannot help with that request because it is not something I can do for you today!"


def test_catastrophic_patterns_run_under_re2_and_still_answer() -> None:
    # Both take minutes or more under Python's `re` on these texts.
    assert detector_engine(r"^(\w+\s?)+$") == "re2"
    assert detector_matches(r"^(\w+\s?)+$", REFUSAL) is False
    assert detector_matches(r"(a+)+$", "a" * 100_000 + "b") is False
    assert detector_matches(r"(a+)+$", "b" + "a" * 100_000) is True


def test_patterns_re2_refuses_are_time_limited() -> None:
    pattern = r"(?:a|aa)+(?<=c)$"  # lookbehind: not RE2; exponential backtracking
    assert detector_engine(pattern) == "bounded"
    with pytest.raises(DetectorTimeout, match="ran past its 0.2 s limit"):
        detector_matches(pattern, "a" * 60, time_limit=0.2)
    # The fallback still matches what the pattern means.
    assert detector_matches(r"(\w)\1", "book") is True
    assert detector_matches(r"(\w)\1", "bok") is False


def test_eval_and_labeller_use_the_one_helper(monkeypatch) -> None:
    from cai_lang.eval import run as eval_run
    from cai_lang.train.rl import aggregate

    calls = []
    real = detector.detector_matches

    def spy(pattern, text, **kw):
        calls.append(pattern)
        return real(pattern, text, **kw)

    # Both modules import the helper by name from `cai_lang.detector`.
    monkeypatch.setattr(aggregate, "detector_matches", spy)
    entry = type("Rule", (), {"id": "r", "detect": r"\d{3}"})()
    assert aggregate.judge_exactly(entry, "123", "abc") == 0.0
    assert calls == [r"\d{3}", r"\d{3}"]
    assert "re.search" not in open(eval_run.__file__, encoding="utf-8").read()


def test_a_timed_out_detector_abstains_in_the_labeller(monkeypatch) -> None:
    from cai_lang.train.rl import aggregate

    def slow(pattern, text, **kw):
        raise DetectorTimeout(pattern, 1.0)

    monkeypatch.setattr(aggregate, "detector_matches", slow)
    entry = type("Rule", (), {"id": "r", "detect": "x"})()
    assert aggregate.judge_exactly(entry, "x", "y") == 0.5


@pytest.mark.parametrize(
    "pattern, flagged",
    [
        (r"(a+)+$", "repeats a group"),
        (r"^(\w+\s?)+$", "repeats a group"),
        (r"(?:x{1,3})+z", "repeats a group"),
        (r"(?:[ -]?\d{4}){3}", None),  # a bounded outer count stays polynomial
        ("", "is empty"),
        ("x*", "matches every text"),
        (r"\b\d{3}-\d{2}-\d{4}\b", None),
        (r"(ab)+", None),
        (r"(a{1})+", None),
        ("^$", None),
        ("(", None),  # does not compile: E107's business
    ],
)
def test_w309_lint_heuristic(pattern, flagged) -> None:
    problem = pattern_problem(pattern)
    assert (problem is None) if flagged is None else (flagged in problem)


def test_w309_is_reported_at_the_pattern(tmp_path) -> None:
    path = tmp_path / "r.const"
    path.write_text('action leak "leak"\nrule r {\n    never leak\n    detect regex ""\n}\n')
    (finding,) = [d for d in check_file(path).diagnostics if d.code == "W309"]
    assert finding.span.line == 4 and "rule `r`" in finding.message
