"""Reviewing constitutions (language 1.1, sections 7 and 8): `caic test`
proves `test` declarations with the solver, `caic diff` reports what changed
in behaviour between two versions. `verdict.py` holds the semantics both
share (resolved verdict, applies, who wins); `tests.py` and `diff.py` are
the two tools, and `report.py` / `diff_report.py` render them."""

from __future__ import annotations

from dataclasses import dataclass, field

from cai_lang.api import Report, check_files
from cai_lang.span import paused_collector


@dataclass
class TestRun:
    __test__ = False

    report: Report
    results: list = field(default_factory=list)
    coverage: dict = field(default_factory=dict)  # deployment -> Coverage, across files

    @property
    def failed(self) -> bool:
        return self.report.has_errors or any(not r.passed for r in self.results)


def run_tests(paths: list, *, deployment: str | None = None) -> TestRun:
    """Check every file; when none has errors, run the tests of each
    (only those of `deployment` when given). Raises OSError on unreadable files."""
    with paused_collector():  # as in the checker: many small acyclic objects
        return _run_tests(paths, deployment)


def _run_tests(paths: list, deployment: str | None) -> TestRun:
    from cai_lang.review.tests import Runner

    report = check_files(list(paths))
    run = TestRun(report=report)
    if report.has_errors:
        return run
    for result in report.results:
        runner = Runner(result)
        run.results.extend(runner.run(only=deployment))
        for name, where in runner.deployments.items():
            key = name if len(report.results) == 1 else f"{result.program.root_module.display}:{name}"
            run.coverage[key] = where.coverage
    return run
