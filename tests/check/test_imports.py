"""Imports: the standard library, relative paths, aliases, and the three ways
an import can fail (E103 missing, E104 cycle, E105 outside the allowed
folders, symbolic links included)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cai_lang.api import check_file

PRINCIPLE = """
principle {name} {{
    critique "Point out where the answer skips the {name} check."
    revision "Rewrite the answer so it passes the {name} check."
    compare "Which answer passes the {name} check more fully?"
}}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def codes(path: Path) -> list[str]:
    return [d.code for d in check_file(path).diagnostics]


def test_std_and_relative_imports_with_aliases(tmp_path: Path) -> None:
    write(tmp_path / "policies" / "shared.const", PRINCIPLE.format(name="tone"))
    root = write(
        tmp_path / "root.const",
        'import std.honest as honesty\nimport "./policies/shared.const"\n'
        + PRINCIPLE.format(name="local")
        + "priority honesty.calibrated > shared.tone > local\n",
    )
    result = check_file(root)
    assert [d for d in result.diagnostics if d.is_error] == []
    assert {"honesty.calibrated", "shared.tone", "local"} <= set(result.constitution.principles)


def test_a_module_imported_twice_is_one_module(tmp_path: Path) -> None:
    write(tmp_path / "base.const", PRINCIPLE.format(name="tone"))
    write(tmp_path / "left.const", 'import "./base.const"\n' + PRINCIPLE.format(name="left"))
    root = write(tmp_path / "root.const", 'import "./left.const"\nimport "./base.const"\n' + PRINCIPLE.format(name="mine"))
    result = check_file(root)
    assert not [d for d in result.diagnostics if d.is_error]
    tone_ids = [i for i in result.constitution.principles if i.endswith("tone")]
    assert tone_ids == ["base.tone"]  # the shortest alias path names it


@pytest.mark.parametrize(
    "line, message",
    [
        ("import std.nonexistent", "cannot find module `std.nonexistent`"),
        ("import policies.shared", "std.NAME"),
        ('import "./missing.const" as missing', "cannot find module `./missing.const`"),
    ],
)
def test_missing_modules_are_e103(tmp_path: Path, line: str, message: str) -> None:
    root = write(tmp_path / "root.const", line + "\n" + PRINCIPLE.format(name="local"))
    found = check_file(root).diagnostics
    assert [d.code for d in found] == ["E103"]
    assert message in found[0].message
    assert found[0].span.line == 1


def test_misspelled_std_module_gets_a_suggestion(tmp_path: Path) -> None:
    root = write(tmp_path / "root.const", "import std.harmles\n" + PRINCIPLE.format(name="local"))
    (finding,) = check_file(root).diagnostics
    assert finding.help == "did you mean `std.harmless`?"


def test_import_cycle_is_e104_and_names_the_cycle(tmp_path: Path) -> None:
    write(tmp_path / "a.const", 'import "./b.const"\n' + PRINCIPLE.format(name="pa"))
    write(tmp_path / "b.const", 'import "./a.const"\n' + PRINCIPLE.format(name="pb"))
    root = write(tmp_path / "root.const", 'import "./a.const"\n' + PRINCIPLE.format(name="mine"))
    found = check_file(root).diagnostics
    assert [d.code for d in found] == ["E104"]
    assert "a.const -> " in found[0].message and "b.const -> " in found[0].message
    assert found[0].span.file.endswith("b.const")


def test_self_import_is_a_cycle(tmp_path: Path) -> None:
    root = write(tmp_path / "self.const", 'import "./self.const"\n' + PRINCIPLE.format(name="mine"))
    assert codes(root) == ["E104"]


def test_parent_folder_import_is_e105(tmp_path: Path) -> None:
    write(tmp_path / "outside.const", PRINCIPLE.format(name="far"))
    root = write(tmp_path / "project" / "root.const", 'import "../outside.const"\n' + PRINCIPLE.format(name="mine"))
    assert codes(root) == ["E105"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symlink_leaving_the_folder_is_e105(tmp_path: Path) -> None:
    target = write(tmp_path / "elsewhere" / "secret.const", PRINCIPLE.format(name="far"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "link.const").symlink_to(target)
    root = write(project / "root.const", 'import "./link.const"\n' + PRINCIPLE.format(name="mine"))
    assert codes(root) == ["E105"]


def test_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    target = write(tmp_path / "project" / "real" / "shared.const", PRINCIPLE.format(name="tone"))
    (tmp_path / "project" / "shared.const").symlink_to(target)
    root = write(tmp_path / "project" / "root.const", 'import "./shared.const"\n' + PRINCIPLE.format(name="mine"))
    assert "E105" not in codes(root)


def test_errors_in_an_imported_module_point_into_it(tmp_path: Path) -> None:
    write(tmp_path / "broken.const", "principle oops { critique: \"x\" }\n")
    root = write(tmp_path / "root.const", 'import "./broken.const"\n' + PRINCIPLE.format(name="mine"))
    (finding,) = check_file(root).diagnostics
    assert finding.code == "E001" and finding.span.file.endswith("broken.const")


def test_context_declared_differently_in_two_modules_is_e106(tmp_path: Path) -> None:
    write(tmp_path / "a.const", "context { risk: low | high }\n" + PRINCIPLE.format(name="pa").replace("}\n", "    applies when risk == low\n}\n", 1))
    root = write(
        tmp_path / "root.const",
        'import "./a.const"\ncontext { risk: low | medium | high }\n' + PRINCIPLE.format(name="mine").replace("}\n", "    applies when risk == high\n}\n", 1),
    )
    found = check_file(root).diagnostics
    assert [d.code for d in found] == ["E106"]
    assert found[0].related
