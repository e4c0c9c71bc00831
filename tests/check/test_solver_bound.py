"""Issue 29, defect 9 (solver): every solver query is bounded, and an undecided check is E212, never a hang or a pass.

The pigeonhole principle with ten holes (eleven pigeons as 110 flags) is
unsatisfiable but takes a CDCL solver time exponential in the holes; written
as a rule's condition it used to keep `caic check` and the language server
busy without bound. A small `CAIC_SOLVER_RLIMIT` keeps these tests short; one
runs with the default limit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cai_lang.api import check_file
from cai_lang.check.solver import DEFAULT_RLIMIT, solver_rlimit
from cai_lang.diagnostics.codes import CODES

REPO = Path(__file__).resolve().parents[2]
PIGEONHOLE = CODES["E212"].bad


@pytest.fixture
def hard(tmp_path) -> Path:
    path = tmp_path / "pigeonhole.const"
    path.write_text(PIGEONHOLE, encoding="utf-8")
    return path


def test_a_pigeonhole_condition_is_e212_naming_the_check(hard, monkeypatch) -> None:
    monkeypatch.setenv("CAIC_SOLVER_RLIMIT", "200000")
    (undecided,) = [d for d in check_file(hard).diagnostics if d.code == "E212"]
    assert "could not decide whether every condition can hold (W307) in deployment `default`" in undecided.message
    assert "200000 resource units" in undecided.message and "Or(x00, x01" in undecided.message


def test_the_fixed_example_is_decided(tmp_path) -> None:
    path = tmp_path / "fixed.const"
    path.write_text(CODES["E212"].fixed, encoding="utf-8")
    assert not check_file(path).diagnostics


def test_caic_check_with_the_default_limit_ends_with_e212(hard) -> None:
    env = {"PYTHONPATH": str(REPO), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-m", "cai_lang", "check", str(hard)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error[E212]" in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_caic_test_marks_an_undecided_expectation_not_judged(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAIC_SOLVER_RLIMIT", "200000")
    condition = PIGEONHOLE.split("never a when ", 1)[1].split("\n", 1)[0]
    path = tmp_path / "t.const"
    # The rule's own condition is easy; the test's region is the hard one.
    path.write_text(PIGEONHOLE.split("action a", 1)[0] + 'action a "do a"\nrule r {\n    never a when x00\n}\n'
                    f"test hard {{\n    given {condition}\n    expect never a\n}}\n", encoding="utf-8")
    result = check_file(path)
    (undecided,) = [d for d in result.diagnostics if d.is_error]
    assert undecided.code == "E212" and "whether the region of test `hard` is empty" in undecided.message
    # `caic test` refuses a file with errors; the runner itself marks the test not judged, never passed.
    from cai_lang.review.tests import Runner

    (outcome,) = Runner(result).run()
    assert outcome.status == "not judged" and not outcome.passed
    assert "not judged: the solver gave up after 200000 resource units" in outcome.not_judged[0].message


def test_the_limit_setting_is_read_safely(monkeypatch) -> None:
    for value, expected in (("", DEFAULT_RLIMIT), ("abc", DEFAULT_RLIMIT), ("0", DEFAULT_RLIMIT), ("9" * 40, DEFAULT_RLIMIT), ("5000", 5000)):
        monkeypatch.setenv("CAIC_SOLVER_RLIMIT", value)
        assert solver_rlimit() == expected
