"""Checking `test` declarations (language 1.1, section 7) like other declarations.

Tests are no part of the constitution, so name resolution builds no model
items for them; this pass binds their references instead, in the root
module's scope as the named deployment sees it (the base items, the module
aliases, and the principles and rules its `extends` chain adds). Unknown
names are E101, a repeated test name E102, a badly typed `given` E106, and
E107 an `expect detect` on a rule without a detector or `X over X`.
`check_test_regions` warns W308 where a test's region of contexts (the
deployment's assumptions and its `given`) is empty. `resolve_tests` hands the
bound tests to the runner in `cai_lang.review`. Tests of imported modules
are neither checked nor run by the importer.
"""

from __future__ import annotations

from dataclasses import dataclass

from cai_lang.check.names import alias_paths
from cai_lang.check.types import check_condition
from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.fixes import suggestion
from cai_lang.diagnostics.model import Diagnostic, Related
from cai_lang.ir import nodes as ir
from cai_lang.ir.model import DEFAULT_DEPLOYMENT, Constitution
from cai_lang.ir.program import Program


@dataclass(frozen=True)
class ExpectDef:
    node: ir.Expectation
    target: str  # an action id for verdicts, a rule id for detect, else a principle or rule id
    other: str | None = None  # `over`: the item expected to lose


@dataclass(frozen=True)
class TestDef:
    __test__ = False  # not a pytest test class

    node: ir.Test
    deployment: str
    expects: tuple[ExpectDef, ...]

    @property
    def name(self) -> str:
        return self.node.name.value


class _TestScope:
    """What a root-module test can name, per deployment."""

    def __init__(self, program: Program, constitution: Constitution):
        self.constitution = constitution
        paths = alias_paths(program)
        self.aliases = {alias: paths.prefix.get(target) for alias, target in paths.aliases.get(program.root, {}).items()}
        self.unresolved = paths.unresolved.get(program.root, set())  # failed imports: already E103-E105
        self.base_items = set(constitution.principles) | set(constitution.rules)
        self.found: list[Diagnostic] = []

    def items_of(self, deployment: str) -> set[str]:
        items = set(self.base_items)
        for link in self.constitution.chain(deployment):
            items |= {p.id for p in link.principles} | {r.id for r in link.rules}
        return items

    def lookup(self, ref: ir.Ref, table: set[str], kind: str) -> str | None:
        if ref.module is not None and ref.module in self.unresolved:
            return None  # the failed import is the one finding, not every name through it
        if ref.module is not None and ref.module not in self.aliases:
            help, fix = suggestion(ref.module, self.aliases, ref.span, "{}." + ref.name)
            self.found.append(msg.UNKNOWN_MODULE.at(ref.span, alias=ref.module, ref=str(ref), help=help or "import the module first", fixes=[fix]))
            return None
        wanted = f"{self.aliases[ref.module]}{ref.name}" if ref.module is not None else ref.name
        if wanted in table:
            return wanted
        help, fix = suggestion(str(ref), table, ref.span)
        self.found.append(msg.UNKNOWN_REFERENCE.at(ref.span, kind=kind, name=str(ref), help=help, fixes=[fix]))
        return None

    def expectation(self, node: ir.Expectation, items: set[str]) -> ExpectDef | None:
        if node.kind in ("never", "always", "allowed", "users"):
            target = self.lookup(node.target, set(self.constitution.actions), "action")
            return ExpectDef(node, target) if target is not None else None
        if node.kind == "detect":
            rules = {i for i in items if not self._is_principle(i)}
            target = self.lookup(node.target, rules, "rule")
            if target is None:
                return None
            if self._rule_node(target).detect is None:
                self.found.append(msg.TEST_NO_DETECTOR.at(node.target.span, name=target, help="add `detect regex \"...\"` to the rule, or drop this expectation"))
                return None
            return ExpectDef(node, target)
        target = self.lookup(node.target, items, "principle or rule")
        if node.kind == "applies":
            return ExpectDef(node, target) if target is not None else None
        other = self.lookup(node.other, items, "principle or rule")
        if target is None or other is None:
            return None
        if target == other:
            self.found.append(msg.TEST_SAME_SIDES.at(node.span, name=str(node.target)))
            return None
        return ExpectDef(node, target, other)

    def _is_principle(self, item: str) -> bool:
        if item in self.constitution.principles:
            return True
        return any(p.id == item for d in self.constitution.deployments.values() for p in d.principles)

    def _rule_node(self, item: str) -> ir.Rule:
        if item in self.constitution.rules:
            return self.constitution.rules[item].node
        return next(r.node for d in self.constitution.deployments.values() for r in d.rules if r.id == item)


def resolve_tests(program: Program, constitution: Constitution) -> tuple[list[TestDef], list[Diagnostic]]:
    """The root module's tests with their references bound, and what was wrong with them.
    A test with any error is left out of the list (the diagnostics say why)."""
    scope = _TestScope(program, constitution)
    tests: list[TestDef] = []
    seen: dict[str, ir.Test] = {}
    for node in program.root_module.of_type(ir.Test):
        before = len(scope.found)
        if node.name.value in seen:
            first = seen[node.name.value]
            scope.found.append(msg.DUPLICATE.at(node.name.span, kind="test", name=node.name.value, related=[Related(span=first.name.span, message="first defined here")]))
        seen.setdefault(node.name.value, node)
        deployment = DEFAULT_DEPLOYMENT
        if node.deployment is not None:
            deployment = node.deployment.value
            if deployment not in constitution.deployments:
                help, fix = suggestion(deployment, constitution.deployments, node.deployment.span)
                scope.found.append(msg.UNKNOWN_REFERENCE.at(node.deployment.span, kind="deployment", name=deployment, help=help, fixes=[fix]))
                continue
        if node.given is not None:
            scope.found.extend(check_condition(constitution.context, node.given))
        items = scope.items_of(deployment)
        expects = [scope.expectation(e, items) for e in node.expects]
        if len(scope.found) == before and all(e is not None for e in expects) and expects:
            tests.append(TestDef(node=node, deployment=deployment, expects=tuple(expects)))
    return tests, scope.found


def check_tests(program: Program, constitution: Constitution) -> list[Diagnostic]:
    return resolve_tests(program, constitution)[1]


def check_test_regions(program: Program, constitution: Constitution, only: str | None = None) -> list[Diagnostic]:
    """W308 for each well-formed test whose region is empty (skipped where the
    deployment's own assumptions already cannot hold: E206 says so)."""
    from cai_lang.check.solver import ContextSolver, SolverUndecided
    from cai_lang.ir.resolve import resolve_deployment

    tests, _ = resolve_tests(program, constitution)
    solvers: dict[str, ContextSolver] = {}
    found = []
    for test in tests:
        if only is not None and test.deployment != only:
            continue
        if test.deployment not in solvers:
            solvers[test.deployment] = ContextSolver(constitution.context, resolve_deployment(constitution, test.deployment).assumptions)
        solver = solvers[test.deployment]
        try:
            empty = solver.satisfiable() and not solver.satisfiable(solver.encode(test.node.given))
        except SolverUndecided as undecided:
            found.append(msg.SOLVER_UNDECIDED.at(test.node.given.span, what=f"whether the region of test `{test.name}` is empty",
                                                 where=test.deployment, deployment=test.deployment, detail=str(undecided)))
            continue
        if empty:
            found.append(msg.TEST_EMPTY_REGION.at(test.node.given.span, name=test.name, where=test.deployment, deployment=test.deployment))
    return found
