"""The code registry: every code of the contract is registered, explained, and
its minimal failing example really fails with that code while the fixed one
does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from cai_lang.api import check_file
from cai_lang.diagnostics.codes import CODES, Severity

CONTRACT_CODES = (
    "E001 E002 E101 E102 E103 E104 E105 E106 E107 E108 "
    "E201 E202 E203 E204 E205 E206 E207 E208 E209 E210 E211 "
    "E212 W301 W302 W303 W304 W305 W306 W307 W308 W309 W310 W311 W312 W313 W314 I401"
).split()


def test_registry_matches_the_contract() -> None:
    assert list(CODES) == CONTRACT_CODES
    for code, entry in CODES.items():
        expected = {"E": Severity.ERROR, "W": Severity.WARNING, "I": Severity.INFO}[code[0]]
        assert entry.severity is expected
        assert len(entry.explanation) > 80, code


def _codes_for(source: str, tmp_path: Path) -> set[str]:
    path = tmp_path / "example.const"
    path.write_text(source, encoding="utf-8")
    return {d.code for d in check_file(path).diagnostics}


@pytest.mark.parametrize("code", [c for c, e in CODES.items() if e.self_contained])
def test_bad_example_triggers_its_code(code: str, tmp_path: Path) -> None:
    assert code in _codes_for(CODES[code].bad, tmp_path)


@pytest.mark.parametrize("code", [c for c, e in CODES.items() if e.self_contained])
def test_fixed_example_is_free_of_its_code(code: str, tmp_path: Path) -> None:
    found = _codes_for(CODES[code].fixed, tmp_path)
    assert code not in found
    assert not {c for c in found if c.startswith("E")}, found


def test_every_code_has_one_phase() -> None:
    from cai_lang.diagnostics.codes import PHASES

    listed = [code for codes in PHASES.values() for code in codes]
    assert sorted(listed) == sorted(CODES) and len(listed) == len(set(listed))
    assert {CODES[c].phase for c in ("E001", "E106", "E202", "W306")} == {"syntax", "program", "deployment", "final"}


def test_a_program_phase_error_stops_the_deployment_passes(tmp_path: Path) -> None:
    cycle = CODES["E201"].bad
    assert "E201" in _codes_for(cycle, tmp_path)
    found = _codes_for(cycle + "priority no_such_principle > another_missing\n", tmp_path)
    assert "E101" in found and "E201" not in found
