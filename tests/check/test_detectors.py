"""Detectors: one engine, flags and time bound for every caller (issue 16, item 2; issue 29,
defects 1 and 2), the one helper every caller uses, and the W309 and W313 lints."""

from __future__ import annotations

import sys

import pytest

from cai_lang import detector
from cai_lang.api import check_file
from cai_lang.check.patterns import pattern_problem, portability_problem
from cai_lang.detector import DetectorTimeout, detector_matches

REFUSAL = "I am sorry, but I cannot help with that request because it is not something I can do for you today!"
SLOW = r"(?:a|aa)+(?<=c)$"  # exponential backtracking that no engine optimisation removes

# The inputs on which RE2 and the `regex` module used to disagree, pinned.
SEMANTICS = [
    (r"\d", "\u0663", False),  # Arabic-Indic digit three: not `\d`
    (r"\d", "\uff13", False),  # full-width digit three
    (r"\d", "3", True),
    (r"\w", "\u00e9", False),  # é is not a word character
    (r"\bcaf\b", "caf\u00e9", True),  # so `caf` ends at a boundary before é
    (r"\s", "\u00a0", False),  # no-break space is not `\s`
    (r"(?i)\u00e9", "\u00c9", False),  # (?i) folds ASCII only
    (r"(?i)abc", "ABC", True),
    (r"end$", "the end\n", True),  # `$` before a final newline
    (r"end\Z", "the end\n", False),  # `\Z`: the very end
    (r"end$", "the end\nmore", False),
]


@pytest.mark.parametrize("pattern, text, expected", SEMANTICS)
def test_the_one_semantics_is_pinned(pattern, text, expected) -> None:
    assert detector_matches(pattern, text) is expected


@pytest.mark.parametrize("pattern, text, expected", SEMANTICS)
def test_the_semantics_do_not_depend_on_an_optional_engine(pattern, text, expected, monkeypatch) -> None:
    # With google-re2 importable or not, every pattern runs the same way.
    monkeypatch.setitem(sys.modules, "re2", None)
    detector.compile_detector.cache_clear()
    assert detector_matches(pattern, text) is expected
    detector.compile_detector.cache_clear()


def test_catastrophic_patterns_are_time_limited() -> None:
    assert detector_matches(r"^(\w+\s?)+$", REFUSAL) is False
    with pytest.raises(DetectorTimeout, match="ran past its 0.2 s limit"):
        detector_matches(SLOW, "a" * 60, time_limit=0.2)
    assert detector_matches(r"(\w)\1", "book") is True
    assert detector_matches(r"(\w)\1", "bok") is False


def test_caic_test_reports_a_catastrophic_detector_as_not_judged(tmp_path) -> None:
    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    path = tmp_path / "slow.const"
    path.write_text(
        'action leak "leak"\n'
        f'rule no_leak {{\n    never leak\n    detect regex "{SLOW}"\n}}\n'
        'test leaks {\n    expect detect no_leak "' + "a" * 60 + '"\n}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["test", str(path)])
    assert result.exit_code == 1, result.output
    assert "NOT JUDGED leaks" in result.output and "ran past its 1 s limit" in result.output
    assert "0 passed, 0 failed, 1 not judged" in result.output
    json_result = CliRunner().invoke(app, ["test", str(path), "--format", "json"])
    assert '"status": "not judged"' in json_result.output


@pytest.mark.parametrize(
    "pattern, flagged",
    [
        ("acct-[0-9]+$", "uses `$`"),
        ("(?m)^acct$", None),
        (r"acct\$", None),
        ("[$]", None),
        (r"acct\Z", None),
        ("(?i)caf\u00e9", "non-ASCII letters"),
        ("(?i)cafe", None),
        ("caf\u00e9", None),
    ],
)
def test_w313_flags_patterns_other_engines_read_differently(pattern, flagged) -> None:
    problem = portability_problem(pattern)
    assert (problem is None) if flagged is None else (flagged in problem)


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
