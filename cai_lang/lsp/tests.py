"""`test` declarations in the editor: failures as diagnostics, results on hover.

When a document is saved, its tests run (the same `Runner` `caic test` uses,
on the check the server already holds) and each failing expectation becomes
an error on its `expect` line, with the witness and the reason in the
message; they are published with the document's other findings and go away
on the next edit until the next save. Hovering the name of a test runs it
and shows its result. Nothing runs while the file has errors.
"""

from __future__ import annotations

from lsprotocol import types

from cai_lang.check import CheckResult
from cai_lang.ir import nodes as ir
from cai_lang.lsp.positions import span_range
from cai_lang.review.report import show_witness

SOURCE = "caic test"


def _runnable(result: CheckResult | None) -> bool:
    return result is not None and result.constitution is not None and not result.errors


def failure_diagnostics(result: CheckResult | None, encoding: str) -> list[types.Diagnostic]:
    """One LSP error per failing expectation of the root module's tests."""
    if not _runnable(result):
        return []
    from cai_lang.review.tests import Runner

    source = result.program.sources[result.program.root]
    expects = {e.span.line: e for t in result.program.root_module.of_type(ir.Test) for e in t.expects}
    found = []
    for outcome in Runner(result).run():
        for failure in [*outcome.failures, *outcome.not_judged]:
            expect = expects.get(failure.line)
            if expect is None:
                continue
            verb = "fails" if failure in outcome.failures else "is not judged"
            lines = [f"test `{outcome.name}` {verb}: {failure.expectation}", failure.message]
            if failure.witness is not None:
                lines.append(f"witness: {show_witness(failure.witness)}")
            found.append(
                types.Diagnostic(
                    range=span_range(expect.span, source, encoding),
                    message="\n".join(lines),
                    severity=types.DiagnosticSeverity.Error,
                    code="test",
                    source=SOURCE,
                    data={"test": outcome.name, "deployment": outcome.deployment, "witness": failure.witness},
                )
            )
    return found


def find_test(result: CheckResult | None, path: str, offset: int) -> ir.Test | None:
    """The test whose `test NAME` header is under the cursor."""
    if result is None or result.program.root != path:
        return None
    for node in result.program.root_module.of_type(ir.Test):
        if node.span.start <= offset <= node.name.span.end:
            return node
    return None


def hover_markdown(result: CheckResult | None, node: ir.Test) -> str:
    if not _runnable(result):
        return f"**test** `{node.name.value}`: not run, the file has errors"
    from cai_lang.check.tests import resolve_tests
    from cai_lang.review.tests import Runner

    tests, _ = resolve_tests(result.program, result.constitution)
    match = next((t for t in tests if t.node is node), None)
    if match is None:
        return f"**test** `{node.name.value}`: not run, it has errors"
    outcome = Runner(result).run_one(match)
    lines = [f"**test** `{outcome.name}` in deployment `{outcome.deployment}`: **{outcome.status.upper()}**"]
    if outcome.vacuous:
        lines.append("its region is empty, so it proves nothing (W308)")
    lines.append(f"{len(match.expects) - len(outcome.failures) - len(outcome.not_judged)} of {len(match.expects)} expectations hold")
    for failure in [*outcome.failures, *outcome.not_judged]:
        lines.append(f"- line {failure.line}: `{failure.expectation}`: {failure.message}" + (f" (witness: {show_witness(failure.witness)})" if failure.witness else ""))
    return "\n\n".join(lines)


def publish_with_tests(ls, uri: str) -> None:
    """Re-publish a saved document's findings with its test failures added."""
    from cai_lang.lsp import diagnostics

    result = ls.results.get(uri)
    if result is None:
        return
    found = diagnostics.by_file(result.diagnostics, result.program, ls.uri_for, ls.encoding)
    failures = failure_diagnostics(result, ls.encoding)
    if failures:
        found.setdefault(uri, []).extend(failures)
    ls.publish(uri, found)
