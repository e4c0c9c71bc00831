"""Issue 29, defect 11: bidirectional controls and invisible characters are W312, on by default, shown escaped."""

from __future__ import annotations

import pytest

from cai_lang.api import check_file

BASE = 'action leak "reveal the number"\nrule no_leak {{\n    never leak\n    detect regex "{regex}"\n}}\n{extra}'


@pytest.mark.parametrize(
    "regex, extra, shown",
    [
        ("acct-\u202e[0-9]+\u202c", "", "\\u202e"),  # a right-to-left override inside a detector
        ("acct-[0-9]+", "# harmless \u2066comment\u2069\n", "\\u2066"),  # in a comment (Trojan Source)
        ("acct\u200b-[0-9]+", "", "\\u200b"),  # a zero-width space: `acct-` never matches as read
        ("acct-[0-9]+", 'principle p {\n    critique "Point out \u200dleaked numbers."\n    revision "Remove them."\n    compare "Which response leaks no number?"\n}\n', "\\u200d"),
    ],
)
def test_hidden_characters_are_flagged_escaped(tmp_path, regex, extra, shown) -> None:
    path = tmp_path / "c.const"
    path.write_text(BASE.format(regex=regex, extra=extra), encoding="utf-8")
    found = [d for d in check_file(path).diagnostics if d.code == "W312"]
    assert len(found) >= 1 and shown in found[0].message
    assert "\u202e" not in found[0].message and "\u200b" not in found[0].message


def test_a_clean_file_and_a_leading_bom_are_not_flagged(tmp_path) -> None:
    path = tmp_path / "c.const"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.format(regex="acct-[0-9]+", extra="").encode("utf-8"))
    assert not [d for d in check_file(path).diagnostics if d.code == "W312"]


def test_strict_check_fails_on_hidden_text(tmp_path) -> None:
    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    path = tmp_path / "c.const"
    path.write_text(BASE.format(regex="acct-\u202e[0-9]+", extra=""), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--strict", str(path)])
    assert result.exit_code != 0 and "W312" in result.output
