"""Every standard-library module and every shipped example passes
`caic check --strict`; the spec example of the language contract (a test
fixture) checks with exactly one I401 (duty_to_warn over hipaa) and no errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.api import check_file
from cai_lang.cli.app import app
from cai_lang.resources import stdlib_dir

REPO = Path(__file__).resolve().parents[2]
STDLIB = sorted(stdlib_dir().glob("*.const"))
EXAMPLES = sorted((REPO / "examples").rglob("*.const"))
REQUIRED_STD = {
    "harmless", "honest", "helpful", "medical", "creative_writing", "customer_service",
    "financial_advice", "legal_advice", "hipaa", "cai_2022",
}


def test_the_standard_library_has_the_contract_modules() -> None:
    assert REQUIRED_STD <= {p.stem for p in STDLIB}
    principles = check_file(stdlib_dir() / "cai_2022.const").constitution.principles
    assert len(principles) == 16
    assert all(p.node.critique and p.node.revision and p.node.compare for p in principles.values())
    assert {"least_harmful"} <= set(check_file(stdlib_dir() / "harmless.const").constitution.principles)
    assert {"calibrated", "humble"} <= set(check_file(stdlib_dir() / "honest.const").constitution.principles)
    assert {"responsive"} <= set(check_file(stdlib_dir() / "helpful.const").constitution.principles)


@pytest.mark.parametrize("path", STDLIB + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_passes_strict_check(path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--strict", str(path)])
    assert result.exit_code == 0, result.output


def test_examples_use_the_whole_language() -> None:
    from cai_lang.ir import nodes as ir

    for name in ("medical", "creative_writing", "customer_service"):
        result = check_file(REPO / "examples" / f"{name}.const")
        module = result.program.root_module
        kinds = {type(d) for d in module.declarations}
        assert module.imports, name
        assert {ir.ContextBlock, ir.Rule, ir.Priority, ir.Conflict, ir.Deployment} <= kinds, name
        assert any(d.extends is not None for d in module.of_type(ir.Deployment)), name
    medical = check_file(REPO / "examples" / "medical.const").constitution
    assert any(r.node.verdict == "never" and r.node.detect is not None for r in medical.rules.values())


def test_spec_example_has_exactly_one_i401_and_no_errors() -> None:
    # The contract's own example (with the module it imports) is a fixture:
    # it is meant to show a W302, so it cannot sit among strict-clean examples.
    result = check_file(REPO / "tests" / "fixtures" / "spec" / "spec_example.const")
    assert not [d for d in result.diagnostics if d.is_error]
    infos = [d for d in result.diagnostics if d.code == "I401"]
    assert len(infos) == 1
    (info,) = infos
    assert "duty_to_warn" in info.message and "hipaa" in info.message
    assert info.deployment == "default" and "clinic" in info.message
    assert info.witness["authorized"] is False and info.witness["risk"] == "high"


def test_the_stdlib_marks_the_published_hard_constraints_hard() -> None:
    """Weapons of mass harm and sexual content involving minors are hard rules (language 1.2)."""
    harmless = check_file(stdlib_dir() / "harmless.const").constitution
    creative = check_file(stdlib_dir() / "creative_writing.const").constitution
    assert harmless.rules["no_mass_casualty_uplift"].node.hard
    assert creative.rules["no_sexualized_minors"].node.hard and creative.rules["no_manual_in_fiction"].node.hard


@pytest.mark.parametrize("path", STDLIB + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_user_can_change_a_hard_rule_in_any_shipped_deployment(path: Path) -> None:
    """E211 holds nowhere, and, independently of the checker's pass, no hard rule's
    verdict is one a user can change in any deployment of any shipped file."""
    from cai_lang.check.authority import who_can_change
    from cai_lang.ir.resolve import resolve_deployment

    result = check_file(path)
    assert "E211" not in {d.code for d in result.diagnostics}
    for name in result.constitution.deployments:
        deployment = resolve_deployment(result.constitution, name)
        for rule in deployment.rules:
            if rule.node.hard:
                assert who_can_change(deployment, rule.action)["who"] == "nobody", (path.name, name, rule.id)


@pytest.mark.parametrize("path", STDLIB + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_files_are_formatted(path: Path) -> None:
    result = CliRunner().invoke(app, ["fmt", "--check", str(path)])
    assert result.exit_code == 0, result.output
