"""`caic test`: proving a constitution's `test` declarations with the solver.

Each expectation is a universal property over the test's region (the
deployment's assumptions and the test's `given`): the runner asks the
deployment's `ContextSolver`, the checker's own encoding, for a context in
the region where the property fails; none means it is proved, one is the
witness of the failure. `detect` expectations are context-free and run the
rule's regex on the text through `cai_lang.detector`, the one engine and
time bound every command uses; a search that runs out of time leaves the
expectation *not judged* (`TestResult.not_judged`), which is not a pass. Coverage records which rules, principles and
conflict clauses some expectation reached. Rendering lives in `report.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import z3

from cai_lang.check import CheckResult
from cai_lang.check.authority import user_change_pair, user_variables
from cai_lang.check.solver import SolverUndecided
from cai_lang.check.tests import ExpectDef, TestDef, resolve_tests
from cai_lang.check.verdict import Semantics
from cai_lang.check.view import DeploymentView
from cai_lang.detector import DetectorTimeout, detector_search
from cai_lang.ir.resolve import resolve_deployment


@dataclass
class Failure:
    line: int
    expectation: str
    message: str
    witness: dict | None = None
    witness_other: dict | None = None  # `users ... change`: the second context of the pair


@dataclass
class TestResult:
    __test__ = False

    name: str
    file: str
    line: int
    column: int
    deployment: str
    failures: list[Failure] = field(default_factory=list)
    vacuous: bool = False  # empty region (W308): proves nothing
    not_judged: list[Failure] = field(default_factory=list)  # expectations whose detector ran out of time

    @property
    def passed(self) -> bool:
        return not self.failures and not self.not_judged

    @property
    def status(self) -> str:
        return "fail" if self.failures else "not judged" if self.not_judged else "pass"


@dataclass
class Coverage:
    """Per deployment: what exists and what some expectation reached."""

    rules: set[str] = field(default_factory=set)
    principles: set[str] = field(default_factory=set)
    clauses: dict[str, str] = field(default_factory=dict)  # clause key -> its text
    reached: set[str] = field(default_factory=set)
    # Whether an item or clause key can apply in some context of the deployment (asked lazily,
    # for unreached ones only: one solver query each).
    can_apply: Callable[[str], bool] | None = field(default=None, repr=False)

    def unreached(self) -> dict[str, list[str]]:
        return {
            "rules": sorted(self.rules - self.reached),
            "principles": sorted(self.principles - self.reached),
            "clauses": sorted(self.clauses[k] for k in self.clauses if k not in self.reached),
        }

    def never_applies(self) -> list[str]:
        """The unreached items and clauses (as `unreached` names them) that no context of the
        deployment lets apply: no test can reach them; their conditions are dead here."""
        if self.can_apply is None:
            return []
        keys = sorted(self.rules - self.reached) + sorted(self.principles - self.reached) + [k for k in self.clauses if k not in self.reached]
        return sorted(self.clauses.get(k, k) for k in keys if not self.can_apply(k))

    def share(self) -> float:
        total = len(self.rules) + len(self.principles) + len(self.clauses)
        reached = len(self.reached & (self.rules | self.principles | set(self.clauses)))
        return reached / total if total else 1.0


class _Deployment:
    """The view, semantics and coverage of one tested deployment."""

    def __init__(self, result: CheckResult, name: str):
        self.view = DeploymentView(result.constitution, resolve_deployment(result.constitution, name))
        self.semantics = Semantics(self.view.deployment, self.view.solver.encode, self.view.graph)
        deployment = self.view.deployment
        self.test_given = None  # the `given` of the test being run (pair questions encode it twice)
        self.coverage = Coverage(rules={r.id for r in deployment.rules}, principles={p.id for p in deployment.principles})
        for conflict in deployment.conflicts:
            for index, clause in enumerate(conflict.clauses):
                self.coverage.clauses[_clause_key(conflict, index)] = f"conflict {conflict.left} vs {conflict.right}: prefer {clause.side} " + (
                    "otherwise" if clause.condition is None else f"(line {clause.node.span.line})"
                )
        self.coverage.can_apply = self.can_apply

    def can_apply(self, key: str) -> bool:
        solver, semantics = self.view.solver, self.semantics
        for conflict in self.view.deployment.conflicts:
            for index in range(len(conflict.clauses)):
                if _clause_key(conflict, index) == key:
                    both = solver.all_of(semantics.applies(conflict.left), semantics.applies(conflict.right))
                    return solver.satisfiable(both, self.view.clause_formula(conflict, index))
        return solver.satisfiable(semantics.applies(key))


def _clause_key(conflict, index: int) -> str:
    return f"clause:{conflict.node.span.file}:{conflict.node.span.start}:{index}"


class Runner:
    def __init__(self, result: CheckResult):
        self.result = result
        self.deployments: dict[str, _Deployment] = {}

    def deployment(self, name: str) -> _Deployment:
        if name not in self.deployments:
            self.deployments[name] = _Deployment(self.result, name)
        return self.deployments[name]

    def run(self, only: str | None = None) -> list[TestResult]:
        tests, _ = resolve_tests(self.result.program, self.result.constitution)
        return [self.run_one(t) for t in tests if only is None or t.deployment == only]

    def run_one(self, test: TestDef) -> TestResult:
        where = self.deployment(test.deployment)
        solver = where.view.solver
        span = test.node.name.span
        outcome = TestResult(test.name, span.file, test.node.span.line, test.node.span.column, test.deployment)
        region = solver.encode(test.node.given)
        where.test_given = test.node.given
        try:
            empty = not solver.satisfiable(region)
        except SolverUndecided as undecided:
            outcome.not_judged.append(Failure(test.node.span.line, "given", f"not judged: {undecided}"))
            return outcome
        if empty:
            outcome.vacuous = True
            return outcome
        for expect in test.expects:
            try:
                failure = self.check(where, region, expect)
            except (DetectorTimeout, SolverUndecided) as timeout:
                outcome.not_judged.append(Failure(expect.node.span.line, expect.node.describe(), f"not judged: {timeout}"))
                continue
            if failure is not None:
                outcome.failures.append(failure)
        return outcome

    def check(self, where: _Deployment, region, expect: ExpectDef) -> Failure | None:
        node = expect.node
        semantics = where.semantics
        solver = where.view.solver
        if node.kind == "detect":
            where.coverage.reached.add(expect.target)
            return self.detect(semantics, expect)
        if node.kind == "users":
            return self.users(where, expect, region)
        if node.kind in ("never", "always", "allowed"):
            formula = semantics.verdicts(expect.target)[node.kind]
            rules = semantics.rules_on.get(expect.target, [])
            for rule in rules:
                if solver.satisfiable(region, semantics.applies(rule.id)):
                    where.coverage.reached.add(rule.id)
        elif node.kind == "applies":
            where.coverage.reached.add(expect.target)
            formula = semantics.applies(expect.target)
            if node.negated:
                formula = z3.Not(formula)
        else:
            where.coverage.reached |= {expect.target, expect.other}
            for conflict in semantics.conflicts_between(expect.target, expect.other):
                for index in range(len(conflict.clauses)):
                    if solver.satisfiable(region, semantics.clause_formula(conflict, index)):
                        where.coverage.reached.add(_clause_key(conflict, index))
            formula = semantics.winners(expect.target, expect.other)[expect.target]
        witness = solver.find(region, z3.Not(formula))
        if witness is None:
            return None
        return Failure(node.span.line, node.describe(), self.why(semantics, expect, witness), witness)

    def why(self, semantics: Semantics, expect: ExpectDef, witness: dict) -> str:
        node = expect.node
        if node.kind in ("never", "always", "allowed"):
            verdict, rules = semantics.verdict_at(expect.target, witness)
            if verdict == "allowed":
                return f"the verdict on `{expect.target}` there is allowed: no rule on it applies"
            names = ", ".join(f"`{r.id}` (line {r.node.span.line})" for r in rules)
            if verdict == "contradiction":
                return f"the rules on `{expect.target}` contradict there: {names} apply and no priority decides between them"
            return f"the verdict on `{expect.target}` there is {verdict}, decided by {names}"
        if node.kind == "applies":
            if expect.target not in semantics.items:
                return f"`{expect.target}` is disabled in deployment `{semantics.deployment.name}`"
            return f"`{expect.target}` {'applies' if node.negated else 'does not apply'} there"
        winner, clauses = semantics.winner_at(expect.target, expect.other, witness)
        lines = ", ".join(f"line {c.node.span.line}" for c in clauses)
        if winner == "ambiguous":
            return f"clauses prefer both sides there ({lines})"
        if winner == "none":
            return "neither is preferred there: no clause of a conflict between them matches and the priority order does not rank them"
        how = f"by the clause at {lines}" if clauses else "by the priority order"
        return f"`{winner}` is preferred there, {how}"

    def users(self, where: _Deployment, expect: ExpectDef, region) -> Failure | None:
        """`expect users can/cannot change A`: a pair of contexts in the region, differing only in `by user` variables, with different verdicts."""
        node, deployment = expect.node, where.view.deployment
        given = (where.test_given,) if where.test_given is not None else ()
        pair = user_change_pair(deployment, expect.target, given)
        for rule in where.semantics.rules_on.get(expect.target, []):
            where.coverage.reached.add(rule.id)
        if node.negated and pair is not None:
            first, second = pair
            changed = [k for k in first if first[k] != second[k]]
            one, _ = where.semantics.verdict_at(expect.target, first)
            two, _ = where.semantics.verdict_at(expect.target, second)
            why = f"changing only {', '.join(f'`{c}`' for c in changed)} (set by the user) turns the verdict on `{expect.target}` from {one} into {two}"
            return Failure(node.span.line, node.describe(), why, first, second)
        if not node.negated and pair is None:
            users = user_variables(deployment)
            why = (
                f"no `by user` variable reaches the verdict on `{expect.target}` here"
                if users
                else "the context declares no `by user` variable, so nothing the user says changes a verdict"
            )
            return Failure(node.span.line, node.describe(), why, None)
        return None

    def detect(self, semantics: Semantics, expect: ExpectDef) -> Failure | None:
        pattern = _rule_node(self.result.constitution, expect.target).detect.value
        match = detector_search(pattern, expect.node.text.value)
        if bool(match) != expect.node.negated:
            return None
        if match:
            message = f"the detector of `{expect.target}` matches `{match.group(0)}` in the text"
        else:
            message = f"the detector of `{expect.target}` (`{pattern}`) finds no match in the text"
        return Failure(expect.node.span.line, expect.node.describe(), message, None)


def _rule_node(constitution, rule_id: str):
    """The rule's node wherever it is declared (a disabled rule still has its detector)."""
    if rule_id in constitution.rules:
        return constitution.rules[rule_id].node
    return next(r.node for d in constitution.deployments.values() for r in d.rules if r.id == rule_id)
