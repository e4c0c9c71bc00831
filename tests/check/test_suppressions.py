"""`# caic: allow CODE` comments, the `phase` header field, and help in JSON diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cai_lang.api import check_file
from cai_lang.cli.app import app

COMPARE_ONLY = 'principle {name} {{{comment}\n    compare "Which reply states the {name} figures that were asked for more precisely?"\n}}\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.const"
    path.write_text(text, encoding="utf-8")
    return path


def codes(path: Path) -> list[str]:
    return [d.code for d in check_file(path).diagnostics]


def check(*args: str):
    return CliRunner().invoke(app, ["check", *args])


def test_a_suppressed_warning_stays_silent(tmp_path: Path) -> None:
    plain = write(tmp_path, COMPARE_ONLY.format(name="sales", comment=""))
    assert codes(plain) == ["W302"]
    trailing = write(tmp_path, COMPARE_ONLY.format(name="sales", comment="  # caic: allow W302"))
    assert codes(trailing) == []
    assert check("--strict", str(trailing)).exit_code == 0
    above = write(tmp_path, "# why: this one is for the RL phase only\n# caic: allow W302\n" + COMPARE_ONLY.format(name="sales", comment=""))
    assert codes(above) == []


def test_a_file_level_suppression_covers_every_line(tmp_path: Path) -> None:
    text = "# caic: allow-file W302\n\n" + COMPARE_ONLY.format(name="sales", comment="") + "\n" + COMPARE_ONLY.format(name="costs", comment="")
    assert codes(write(tmp_path, text)) == []


def test_a_suppression_covers_only_its_line_and_code(tmp_path: Path) -> None:
    text = COMPARE_ONLY.format(name="sales", comment="  # caic: allow W305") + "\n" + COMPARE_ONLY.format(name="costs", comment="  # caic: allow W302")
    found = check_file(write(tmp_path, text)).diagnostics
    # `sales` keeps its W302 (its comment names another code, which silenced nothing); `costs` loses its own.
    assert [(d.code, d.kind, d.span.line) for d in found] == [("W302", "ONE_PHASE", 1), ("W310", "UNUSED_SUPPRESSION", 1)]


def test_an_unused_suppression_is_reported_under_strict(tmp_path: Path) -> None:
    text = (
        'principle sales {  # caic: allow W302\n'
        '    critique "Point out figures in the reply that do not match the quarterly sales report."\n'
        '    revision "Rewrite the reply so every figure matches the quarterly sales report."\n'
        '    compare "Which reply matches the quarterly sales report more exactly?"\n}\n'
    )
    path = write(tmp_path, text)
    (finding,) = check_file(path).diagnostics
    assert (finding.code, finding.kind, finding.span.line) == ("W310", "UNUSED_SUPPRESSION", 1)
    relaxed = check(str(path))
    assert relaxed.exit_code == 0 and "W310" not in relaxed.output
    strict = check("--strict", str(path))
    assert strict.exit_code == 1 and "warning[W310]" in strict.output


def test_errors_and_unknown_codes_cannot_be_allowed(tmp_path: Path) -> None:
    text = "# caic: allow E101 W999\npriority nowhere > sales\n" + COMPARE_ONLY.format(name="sales", comment="  # caic: allow W302")
    found = check_file(write(tmp_path, text)).diagnostics
    assert sorted(d.code for d in found) == ["E101", "W310", "W310"]
    messages = " ".join(d.message for d in found if d.code == "W310")
    assert "E101 is an error" in messages and "`W999` is not a diagnostic code" in messages


def test_phase_declaration_replaces_w302_per_principle(tmp_path: Path) -> None:
    header = "constitution sales_bot {{\n    phase {phase}\n}}\n\n"
    rl = write(tmp_path, header.format(phase="rl") + COMPARE_ONLY.format(name="sales", comment=""))
    assert codes(rl) == []
    sl = write(tmp_path, header.format(phase="sl") + COMPARE_ONLY.format(name="sales", comment=""))
    (finding,) = check_file(sl).diagnostics
    assert finding.code == "W302" and "phase sl" in finding.message
    bad = write(tmp_path, header.format(phase="both") + COMPARE_ONLY.format(name="sales", comment=""))
    assert "E107" in codes(bad)


def test_json_diagnostics_carry_help_and_suggestions(tmp_path: Path) -> None:
    text = COMPARE_ONLY.format(name="sales", comment="  # caic: allow W302") + "priority sale > sales\n"
    result = check("--format", "json", str(write(tmp_path, text)))
    (finding,) = json.loads(result.stdout)["diagnostics"]
    assert finding["code"] == "E101"
    assert finding["help"] == "did you mean `sales`?"
    assert finding["suggestions"] == ["sales"]
