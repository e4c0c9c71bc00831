"""Messages that name the right thing (issue 27): each wording that used to mislead, as it reads now."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.api import check_file
from cai_lang.cli.app import app

runner = CliRunner()

PRINCIPLE = """\
    critique "Point out where the response ignores the question."
    revision "Rewrite the response so it answers the question."
    compare "Which response answers the question more directly?"
"""


def _write(tmp_path: Path, text: str, name: str = "c.const") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_an_unclosed_conflict_is_named_by_its_sides(tmp_path: Path) -> None:
    path = _write(tmp_path, f"principle a {{\n{PRINCIPLE}}}\n\nconflict a vs harmless.least_harmful {{\n    prefer a otherwise\n\nrule x {{ never greet }}\n")
    (found,) = [d for d in check_file(path).diagnostics if d.code == "E001"]
    assert found.message == "this `{` of conflict `a vs harmless.least_harmful` is never closed: keyword `rule` comes first"
    assert found.help == "add the closing `}` of conflict `a vs harmless.least_harmful` before this point"


def test_a_principle_reusing_a_rule_name_says_the_first_is_a_rule(tmp_path: Path) -> None:
    path = _write(tmp_path, f'action greet "say hello"\n\nrule helpful {{ never greet }}\n\nprinciple helpful {{\n{PRINCIPLE}}}\n')
    (found,) = [d for d in check_file(path).diagnostics if d.code == "E102"]
    assert found.message == "principle `helpful` reuses the name of rule `helpful`: principles and rules share one namespace"
    assert [(r.span.line, r.message) for r in found.related] == [(3, "rule `helpful` is defined here")]


def test_a_second_principle_of_one_name_is_still_a_plain_duplicate(tmp_path: Path) -> None:
    path = _write(tmp_path, f"principle a {{\n{PRINCIPLE}}}\n\nprinciple a {{\n{PRINCIPLE}}}\n")
    (found,) = [d for d in check_file(path).diagnostics if d.code == "E102"]
    assert found.message == "principle `a` is defined more than once" and found.related[0].message == "first defined here"


def test_a_misspelt_import_is_one_error_not_one_per_use(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""import std.harmles as harm

principle a {{
{PRINCIPLE}}}

priority a > harm.least_harmful

conflict a vs harm.least_harmful {{
    prefer harm.least_harmful otherwise
}}

deployment d {{
    weight harm.least_harmful 2.0
}}

test t {{
    expect applies harm.least_harmful
    expect harm.least_harmful over a
}}
""",
    )
    assert [d.code for d in check_file(path).diagnostics if d.is_error] == ["E103"]


def test_diff_reports_a_weight_change_at_the_weight_line(tmp_path: Path) -> None:
    base = f"principle a {{\n{PRINCIPLE}    weight 1.0\n}}\n\ndeployment clinic {{\n    weight a 2.0\n}}\n"
    old = _write(tmp_path, base, "old.const")
    own = _write(tmp_path, base.replace("weight 1.0", "weight 1.5"), "own.const")
    override = _write(tmp_path, base.replace("weight a 2.0", "weight a 3.0"), "override.const")
    for new, line, text in ((own, 5, "weight 1.5"), (override, 9, "weight a 3.0")):
        result = runner.invoke(app, ["diff", str(old), str(new), "--format", "json"])
        (change,) = [c for c in json.loads(result.stdout)["changes"] if c["change"] == "weight changed"]
        assert change["new_location"]["line"] == line, change
        assert f"{new.name}:{line}  {text}" in runner.invoke(app, ["diff", str(old), str(new)]).stdout


def test_coverage_marks_what_can_never_apply_in_a_deployment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """context {
    risk: low | high
}

action greet "say hello"

rule quiet {
    never greet when risk == high
}

rule chatty {
    always greet when risk == low
}

deployment calm {
    assume risk == low
}

test t {
    deployment calm
    given risk == low
    expect always greet
}
""",
    )
    text = runner.invoke(app, ["test", "--coverage", str(path)]).stdout
    assert "rules no expectation reached: quiet (can never apply here)" in text
    data = json.loads(runner.invoke(app, ["test", "--coverage", "--format", "json", str(path)]).stdout)["coverage"]["calm"]
    assert data["unreached"]["rules"] == ["quiet"] and data["never_applies"] == ["quiet"]
    # Where `quiet` can apply (the default deployment), unreached is all it is.
    path.write_text(path.read_text().replace("    deployment calm\n", ""))
    data = json.loads(runner.invoke(app, ["test", "--coverage", "--format", "json", str(path)]).stdout)["coverage"]["default"]
    assert data["unreached"]["rules"] == ["quiet"] and data["never_applies"] == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["check", "--format", "xml", "{path}"], "'xml' is not one of 'text', 'json', 'sarif', 'github'"),
        (["test", "--format", "xml", "{path}"], "'xml' is not one of 'text', 'json', 'junit', 'github'"),
        (["diff", "{path}", "{path}", "--format", "xml"], "'xml' is not one of 'text', 'json'"),
        (["tiny-model", "--size", "huge", "{path}"], "'huge' is not one of 'tiny', '10m'"),  # a command group's module
        (["train", "{path}", "-m", "m", "-o", "o", "--split", "nope"], "'nope' is not one of 'train', 'eval', 'all'"),  # options built from config
        (["serve", "reward", "{path}", "-m", "m", "--dialect", "nope"], "'nope' is not one of 'chat', 'text', 'paper'"),  # a sub-app
    ],
)
def test_a_wrong_choice_has_no_value_error_prefix(tmp_path: Path, command: list[str], expected: str) -> None:
    path = _write(tmp_path, f"principle a {{\n{PRINCIPLE}}}\n")
    result = runner.invoke(app, [str(path) if word == "{path}" else word for word in command], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert expected in result.output and "Value error" not in result.output, result.output
