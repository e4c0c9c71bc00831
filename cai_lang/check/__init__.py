"""The checker: an ordered tuple of passes from a parsed `Program` to diagnostics.

Front-end passes (names, fields, types) always run once the files parse.
Deployment passes (`DEPLOYMENT_PASSES`: priorities, solver-backed logic,
lints) need a well-formed model, so they run only when the front end found
no error, and once per deployment; a finding that holds in several
deployments is reported once, for the first, naming the others. Last,
`# caic: allow` comments silence the warnings they name (`suppress.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cai_lang.check.fields import check_fields
from cai_lang.check.names import resolve
from cai_lang.check.patterns import check_patterns
from cai_lang.check.suppress import apply_suppressions
from cai_lang.check.tests import check_test_regions, check_tests
from cai_lang.check.types import check_types
from cai_lang.diagnostics.model import Diagnostic, sort_and_dedupe
from cai_lang.ir.model import Constitution
from cai_lang.ir.program import Program
from cai_lang.span import paused_collector

FrontPass = Callable[[Program, Constitution], list[Diagnostic]]

FRONT_PASSES: tuple[FrontPass, ...] = (
    lambda program, constitution: check_fields(program),
    lambda program, constitution: check_patterns(program),
    check_types,
    check_tests,
)


@dataclass
class CheckResult:
    program: Program
    constitution: Constitution | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def check_program(program: Program, deployment: str | None = None) -> CheckResult:
    """Run every pass that applies; `deployment` limits the deployment passes to one."""
    # The passes allocate many small, acyclic objects (model values, solver
    # terms); pausing the cyclic collector keeps its full scans, whose cost
    # grows with everything alive, from making checking superlinear.
    with paused_collector():
        return _check_program(program, deployment)


def _check_program(program: Program, deployment: str | None) -> CheckResult:
    result = CheckResult(program=program, diagnostics=list(program.diagnostics))
    if program.has_syntax_errors:
        result.diagnostics = sort_and_dedupe(result.diagnostics)
        return result
    constitution, found = resolve(program)
    result.constitution = constitution
    result.diagnostics.extend(found)
    for check_pass in FRONT_PASSES:
        result.diagnostics.extend(check_pass(program, constitution))
    # Deployment passes need every name bound and every condition typed; an
    # extends cycle (E207) has already been cut, so it does not block them.
    if not any(d.is_error and d.code < "E200" for d in result.diagnostics):
        from cai_lang.check.deployments import check_deployments
        from cai_lang.check.hazards import check_hazard_coverage
        from cai_lang.check.lints import check_unused

        result.diagnostics.extend(check_deployments(constitution, only=deployment))
        result.diagnostics.extend(check_unused(program, constitution))
        result.diagnostics.extend(check_hazard_coverage(program, constitution))
        result.diagnostics.extend(check_test_regions(program, constitution, only=deployment))
    # Unused suppressions are only known when every pass ran on every deployment.
    complete = deployment is None and not any(d.is_error for d in result.diagnostics)
    result.diagnostics = sort_and_dedupe(apply_suppressions(program, result.diagnostics, report_unused=complete))
    return result
