"""Fixture-driven checker tests: each `.const` file under fixtures/check marks
the lines it expects diagnostics on with `# expect: CODE [CODE ...]`, and the
checker must report exactly those (code, line) pairs in that file."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from cai_lang.api import check_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "check"
EXPECT = re.compile(r"#\s*expect:\s*((?:[EWI]\d{3}\s*)+)")


def expected_findings(path: Path) -> Counter:
    found: Counter = Counter()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = EXPECT.search(line)
        if match:
            for code in match.group(1).split():
                found[(number, code)] += 1
    return found


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.const")), ids=lambda p: p.stem)
def test_fixture(path: Path) -> None:
    result = check_file(path)
    actual = Counter(
        (d.span.line, d.code) for d in result.diagnostics if d.span is not None and Path(d.span.file).resolve() == path.resolve()
    )
    expected = expected_findings(path)
    assert actual == expected, "\n".join(
        f"{d.code} {d.span.line}:{d.span.column} {d.message}" for d in result.diagnostics if d.span is not None
    )


def test_every_code_has_a_fixture_line() -> None:
    from cai_lang.diagnostics.codes import CODES

    covered = set()
    for path in FIXTURES.glob("*.const"):
        covered |= {code for _, code in expected_findings(path)}
    # Import failures need several files on disk; tests/test_imports.py covers them.
    # E212 needs a solver limit set for the run: tests/check/test_solver_bound.py.
    assert set(CODES) - covered == {"E103", "E104", "E105", "E212"}
