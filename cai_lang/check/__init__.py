"""The checker: three visible tuples of passes from a parsed `Program` to diagnostics.

Once the files parse and names resolve, the `PROGRAM_PASSES` (fields,
detector patterns, condition types, tests) run once over the whole program.
The `DEPLOYMENT_PASSES` (an empty deployment, priorities, the solver-backed
logic, hard rules and who may change them, lints) need a well-formed model, so they run only when no error of a
blocking phase (`diagnostics.codes.BLOCKING_PHASES`) was found, once per
deployment; a finding that holds in several deployments is reported once,
for the first, naming the others. The `FINAL_PASSES` (unused actions and
variables, uncovered hazard categories, empty test regions) run after them, over every deployment. Last,
`# caic: allow` comments silence the warnings they name (`suppress.py`).
Each diagnostic code's phase is declared in the code registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cai_lang.check.authority import AUTHORITY_PASSES
from cai_lang.check.deployments import check_deployments, check_nothing_enabled
from cai_lang.check.fields import check_fields
from cai_lang.check.hazards import check_hazard_coverage
from cai_lang.check.hidden import check_hidden_text
from cai_lang.check.lints import LINT_PASSES, check_unused
from cai_lang.check.logic import LOGIC_PASSES
from cai_lang.check.names import resolve
from cai_lang.check.patterns import check_patterns
from cai_lang.check.suppress import apply_suppressions
from cai_lang.check.tests import check_test_regions, check_tests
from cai_lang.check.types import check_types
from cai_lang.check.view import DeploymentView
from cai_lang.diagnostics.codes import BLOCKING_PHASES, PHASE_OF
from cai_lang.diagnostics.model import Diagnostic, sort_and_dedupe
from cai_lang.ir.model import Constitution
from cai_lang.ir.program import Program
from cai_lang.span import paused_collector

ProgramPass = Callable[[Program, Constitution], list[Diagnostic]]
DeploymentPass = Callable[[DeploymentView], list[Diagnostic]]
FinalPass = Callable[[Program, Constitution, "str | None"], list[Diagnostic]]

PROGRAM_PASSES: tuple[ProgramPass, ...] = (
    lambda program, constitution: check_fields(program),
    lambda program, constitution: check_patterns(program),
    lambda program, constitution: check_hidden_text(program),
    check_types,
    check_tests,
)

DEPLOYMENT_PASSES: tuple[DeploymentPass, ...] = (check_nothing_enabled, *LOGIC_PASSES, *AUTHORITY_PASSES, *LINT_PASSES)

FINAL_PASSES: tuple[FinalPass, ...] = (
    lambda program, constitution, only: check_unused(program, constitution),
    lambda program, constitution, only: check_hazard_coverage(program, constitution),
    check_test_regions,
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
    for check_pass in PROGRAM_PASSES:
        result.diagnostics.extend(check_pass(program, constitution))
    # Deployment passes need every name bound and every condition typed; an
    # extends cycle (E207) has already been cut, so it does not block them.
    if not any(d.is_error and PHASE_OF[d.code] in BLOCKING_PHASES for d in result.diagnostics):
        result.diagnostics.extend(check_deployments(constitution, DEPLOYMENT_PASSES, only=deployment))
        for final_pass in FINAL_PASSES:
            result.diagnostics.extend(final_pass(program, constitution, deployment))
    # Unused suppressions are only known when every pass ran on every deployment.
    complete = deployment is None and not any(d.is_error for d in result.diagnostics)
    result.diagnostics = sort_and_dedupe(apply_suppressions(program, result.diagnostics, report_unused=complete))
    return result
