"""`caic test` against a brute-force oracle: every expectation kind, passing and
failing; each failure's witness lies in the test's region and falsifies the
expectation there. Also the exit codes and output formats of section 7."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from oracle import assignments, holds, in_region
from typer.testing import CliRunner

from cai_lang.api import check_file
from cai_lang.check.tests import resolve_tests
from cai_lang.cli.app import app
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.review import run_tests

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "review" / "expectations.const"


@pytest.fixture(scope="module")
def run():
    return run_tests([FIXTURE])


def _cases():
    result = check_file(FIXTURE)
    tests, problems = resolve_tests(result.program, result.constitution)
    assert not problems
    return result, tests


def test_the_fixture_checks_clean_and_has_every_kind() -> None:
    result, tests = _cases()
    assert not result.errors
    kinds = {(e.node.kind, e.node.negated, t.name.startswith("ok_")) for t in tests for e in t.expects}
    for kind in ("never", "always", "allowed", "applies", "over", "detect"):
        assert (kind, False, True) in kinds and (kind, False, False) in kinds, kind
    assert ("applies", True, True) in kinds and ("detect", True, False) in kinds


def test_every_outcome_matches_brute_force(run) -> None:
    result, tests = _cases()
    outcomes = {r.name: r for r in run.results}
    assert set(outcomes) == {t.name for t in tests}
    checked = 0
    for test in tests:
        deployment = resolve_deployment(result.constitution, test.deployment)
        region = [v for v in assignments(result.constitution.context) if in_region(deployment, test.node.given, v)]
        assert region, test.name
        failures = {f.line: f for f in outcomes[test.name].failures}
        for expect in test.expects:
            failure = failures.get(expect.node.span.line)
            # The fixture's naming says which expectations must fail.
            assert (failure is not None) == test.name.startswith("bad_"), (test.name, expect.node.describe())
            if expect.node.kind == "detect":
                assert failure is None or failure.witness is None
                continue
            truth = all(holds(deployment, expect, v) for v in region)
            assert truth == (failure is None), (test.name, expect.node.describe())
            if failure is not None:
                assert set(failure.witness) == set(result.constitution.context)
                assert in_region(deployment, test.node.given, failure.witness)
                assert not holds(deployment, expect, failure.witness)
            checked += 1
    assert checked >= 15


def test_text_output_lists_each_failure_and_closes_with_the_count() -> None:
    out = CliRunner().invoke(app, ["test", str(FIXTURE)])
    assert out.exit_code == 1
    lines = out.output.splitlines()
    assert lines[-1] == "8 passed, 6 failed"
    assert any(re.match(r"PASS ok_warn  .*expectations.const:\d+", line) for line in lines)
    block = out.output[out.output.index("FAIL bad_kids") :]
    assert "expect always disclose" in block and "witness: authorized = false, minor = true, risk = high, topic = medical" in block
    assert "decided by `privacy`" in block


def test_json_junit_and_github_formats() -> None:
    data = json.loads(CliRunner().invoke(app, ["test", str(FIXTURE), "--format", "json"]).output)
    assert data["summary"] == {"passed": 8, "failed": 6}
    bad = next(t for t in data["tests"] if t["name"] == "bad_kids")
    assert bad["status"] == "fail" and bad["deployment"] == "kids"
    assert bad["failures"][0]["expectation"] == "expect always disclose" and bad["failures"][0]["witness"]["minor"] is True
    tree = ET.fromstring(CliRunner().invoke(app, ["test", str(FIXTURE), "--format", "junit"]).output.split("?>", 1)[1])
    assert tree.get("tests") == "14" and tree.get("failures") == "6"
    assert len(tree.findall(".//failure")) == sum(len(t["failures"]) for t in data["tests"])
    github = CliRunner().invoke(app, ["test", str(FIXTURE), "--format", "github"]).output.splitlines()
    errors = [g for g in github if g.startswith("::error ")]
    assert len(errors) == len(tree.findall(".//failure"))
    assert all(re.match(r"::error file=[^,]+,line=\d+,title=", g) for g in errors)


def test_deployment_filter_and_coverage(tmp_path) -> None:
    out = CliRunner().invoke(app, ["test", str(FIXTURE), "--deployment", "kids", "--coverage"])
    assert out.exit_code == 1
    assert out.output.splitlines()[-1] == "1 passed, 1 failed"
    assert "coverage of deployment `kids`" in out.output and "principles no expectation reached: cautious; helpful" in out.output
    data = json.loads(CliRunner().invoke(app, ["test", str(FIXTURE), "-f", "json", "--coverage"]).output)
    assert data["coverage"]["default"]["reached"] == 1.0
    assert "human_for_legal" in data["coverage"]["clinic"]["unreached"]["rules"]
    assert CliRunner().invoke(app, ["test", str(FIXTURE), "--deployment", "nowhere"]).exit_code == 2


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.const"
    path.write_text(text, encoding="utf-8")
    return path


BASE = FIXTURE.read_text(encoding="utf-8").split("test ok_verdicts")[0]


def test_exit_codes(tmp_path) -> None:
    passing = _write(tmp_path, BASE + "test fine { given risk == low and not authorized\n expect never disclose }\n")
    assert CliRunner().invoke(app, ["test", str(passing)]).exit_code == 0
    broken = tmp_path / "broken.const"
    broken.write_text(BASE + "test oops { expect never nothing_here }\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["test", str(broken)])
    assert result.exit_code == 1 and "E101" in result.output
    assert CliRunner().invoke(app, ["test", str(tmp_path / "missing.const")]).exit_code == 2


def test_empty_region_is_w308_and_passes_vacuously(tmp_path) -> None:
    path = _write(tmp_path, BASE + "test nothing { deployment clinic\n given topic == legal\n expect always disclose }\n")
    codes = [d.code for d in check_file(path).diagnostics]
    assert "W308" in codes
    out = CliRunner().invoke(app, ["test", str(path)])
    assert out.exit_code == 0 and "proves nothing" in out.output


def test_the_shipped_examples_tests_all_pass() -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.const"))
    run = run_tests(examples)
    assert not run.report.has_errors
    assert len(run.results) >= 3 * 5 and all(r.passed and not r.vacuous for r in run.results)
    assert {Path(r.file).name for r in run.results} == {p.name for p in examples}
