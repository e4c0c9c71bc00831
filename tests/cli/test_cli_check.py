"""`caic check`, `caic explain` and `caic --version` through typer's CliRunner,
plus real subprocess runs of the installed entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cai_lang import __version__
from cai_lang.cli.app import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "check"

CLEAN = """
principle sourced {
    critique "Point out factual claims that are given without a source."
    revision "Add a source for each factual claim, or mark it as unsourced."
    compare "Which response backs its factual claims with sources?"
}
"""
WARNING_ONLY = """
principle cites {
    compare "Which response backs its factual claims with sources?"
}
"""


def write(tmp_path: Path, text: str, name: str = "policy.const") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(write(tmp_path, CLEAN))])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def test_errors_exit_one_with_rustc_style_text() -> None:
    result = runner.invoke(app, ["check", str(FIXTURES / "rules.const")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    head = lines.index(next(line for line in lines if line.startswith("error[E202]")))
    assert lines[head + 1].strip().startswith("--> ") and lines[head + 1].strip().endswith("rules.const:15:5")
    source_line = next(line for line in lines[head:] if line.startswith("15 |"))
    caret_line = lines[lines.index(source_line) + 1]
    assert caret_line.index("^") == source_line.index("always")
    assert "= witness: authorized = false" in result.output
    assert "= help:" in result.output
    assert "\x1b[" not in result.output  # no colour when not on a terminal


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    path = str(write(tmp_path, WARNING_ONLY))
    assert runner.invoke(app, ["check", path]).exit_code == 0
    assert runner.invoke(app, ["check", "--strict", path]).exit_code == 1


def test_infos_do_not_fail_strict(tmp_path: Path) -> None:
    text = (FIXTURES / "rules.const").read_text().replace("rule emergency_access {\n    always disclose_record when emergency", "rule emergency_access {\n    always disclose_record when emergency and authorized")
    path = write(tmp_path, text)
    result = runner.invoke(app, ["check", "--strict", str(path)])
    assert "I401" in result.output
    assert result.exit_code == 0, result.output


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.const")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unknown_deployment_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--deployment", "nowhere", str(write(tmp_path, CLEAN))])
    assert result.exit_code == 2
    assert "nowhere" in result.output


def test_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.const"
    path.write_bytes("principle caf\xe9 {}".encode("latin-1"))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_json_format_is_the_contract_shape() -> None:
    result = runner.invoke(app, ["check", "--format", "json", str(FIXTURES / "rules.const")])
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert set(document) == {"diagnostics", "summary"}
    assert document["summary"] == {"errors": 1, "warnings": 0, "infos": 1}
    e202 = next(d for d in document["diagnostics"] if d["code"] == "E202")
    assert set(e202) == {
        "code", "severity", "message", "file", "line", "column", "end_line", "end_column", "deployment", "witness", "related",
        "help", "suggestions", "fixes",
    }
    assert e202["severity"] == "error" and e202["deployment"] == "default"
    assert e202["witness"] == {"authorized": False, "risk": "low", "emergency": True}
    assert (e202["line"], e202["column"], e202["end_line"]) == (15, 5, 15)
    assert set(e202["related"][0]) == {"file", "line", "column", "message"}


def test_name_errors_have_no_deployment_in_json() -> None:
    result = runner.invoke(app, ["check", "--format", "json", str(FIXTURES / "names.const")])
    document = json.loads(result.output)
    assert document["diagnostics"] and all(d["deployment"] is None for d in document["diagnostics"])


def test_deployment_option_checks_only_that_deployment() -> None:
    path = str(FIXTURES / "deployments.const")
    only = json.loads(runner.invoke(app, ["check", "--format", "json", "--deployment", "empty", path]).output)
    deployments = {d["deployment"] for d in only["diagnostics"]} - {None}
    assert deployments == {"empty"}


def test_sarif_output_is_sarif_2_1_0() -> None:
    result = runner.invoke(app, ["check", "--format", "sarif", str(FIXTURES / "conflicts.const")])
    log = json.loads(result.output)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {r["ruleId"] for r in run["results"]}
    for item in run["results"]:
        assert rules[item["ruleIndex"]]["id"] == item["ruleId"]
        assert item["level"] in {"error", "warning", "note"}
        region = item["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    assert any("witness" in r.get("properties", {}) for r in run["results"])


def test_explain_prints_examples_and_fix() -> None:
    result = runner.invoke(app, ["explain", "e202"])
    assert result.exit_code == 0
    assert "E202" in result.output and "Example that triggers it" in result.output and "Fixed" in result.output
    assert runner.invoke(app, ["explain", "E999"]).exit_code == 2


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"caic {__version__}"


def test_installed_entry_points_and_no_torch(tmp_path: Path) -> None:
    path = write(tmp_path, CLEAN)
    script = (
        "import sys, runpy\n"
        f"sys.argv = ['caic', 'check', {str(path)!r}]\n"
        "try:\n    runpy.run_module('cai_lang', run_name='__main__')\n"
        "except SystemExit as exit:\n    code = exit.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules)\n"
        "print('HEAVY', heavy, 'CODE', code)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "HEAVY [] CODE 0" in out.stdout, out.stdout + out.stderr
    caic = Path(sys.executable).with_name("caic")
    if caic.exists():
        done = subprocess.run([str(caic), "check", str(path)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
