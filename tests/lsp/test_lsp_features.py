"""The language server's features without the wire: positions, names, hover, completion.

These call the feature modules on a checked program directly, so each case
is cheap; `test_lsp_e2e.py` covers the same features through the real
server.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

types = pytest.importorskip("lsprotocol.types", reason="the lsp extra is not installed (pip install -e '.[lsp]')")

from cai_lang.api import check_file  # noqa: E402 - after the skip
from cai_lang.lsp import completion, hover, index  # noqa: E402
from cai_lang.lsp.positions import LineIndex  # noqa: E402

SOURCE = textwrap.dedent(
    """\
    import std.honest as honesty

    context {
        risk: low | medium | high
        urgent: bool
    }

    action refer "refer the user to a professional"

    principle careful {
        critique "Point out claims stated with more certainty than the evidence allows."
        revision "Rewrite the claims with the uncertainty stated."
        compare "Which response states its uncertainty more honestly?"
        applies when risk >= medium
    }

    rule must_refer { always refer when urgent and risk == high }

    priority must_refer > careful > honesty.calibrated

    deployment triage {
        assume urgent
        weight careful 4.0
        disable honesty.humble
    }

    deployment night extends triage {
        enable honesty.humble
    }
    """
)


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    path = tmp_path_factory.mktemp("features") / "triage.const"
    path.write_text(SOURCE, encoding="utf-8")
    result = check_file(path)
    assert result.constitution is not None
    return str(path.resolve()), result


def _target(checked, needle: str, delta: int = 0):
    path, result = checked
    return index.target_at(result.program, path, SOURCE.index(needle) + delta)


# ---------------------------------------------------------------- positions


@given(st.lists(st.sampled_from(["a", "é", "😀", "\n", "\r\n", "\t", "𝔸"]), max_size=30).map("".join), st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_positions_round_trip_in_every_encoding(text: str, encoding: str) -> None:
    lines = LineIndex(text, encoding)
    for offset in range(len(text) + 1):
        assert lines.offset(lines.position(offset)) == offset


def test_utf16_counts_astral_characters_twice() -> None:
    lines = LineIndex('x "😀" y\nz', "utf-16")
    assert lines.position(6) == types.Position(line=0, character=7)
    assert lines.position(8) == types.Position(line=1, character=0)
    assert LineIndex('x "😀" y', "utf-8").position(6).character == 9


# ---------------------------------------------------------------- names and hover


def test_names_resolve_to_what_they_denote(checked) -> None:
    assert _target(checked, "careful > honesty").key == "careful"
    assert _target(checked, "honesty.calibrated", 9).key == "honesty.calibrated"
    assert _target(checked, "refer when").kind == "action"
    assert (_target(checked, "high }").kind, _target(checked, "high }").value) == ("value", "high")
    assert (_target(checked, "triage {").kind, _target(checked, "night").kind) == ("deployment", "deployment")


def test_hover_on_a_principle_tabulates_every_deployment(checked) -> None:
    path, result = checked
    text = hover.hover_markdown(_target(checked, "careful > honesty"), result.program, result.constitution)
    assert "applies when** `risk >= medium`" in text
    assert "| `default` | 1.0 | 1 |" in text
    assert "| `triage` | 4.0 | 1 |" in text and "| `night` | 4.0 | 1 |" in text


def test_hover_on_a_disabled_principle_says_so(checked) -> None:
    _path, result = checked
    text = hover.hover_markdown(_target(checked, "honesty.humble", 9), result.program, result.constitution)
    assert "| `triage` | disabled | – |" in text and "| `night` | 1.0 |" in text


def test_hover_on_rules_values_actions_and_deployments(checked) -> None:
    _path, result = checked

    def shown(needle: str, delta: int = 0) -> str:
        return hover.hover_markdown(_target(checked, needle, delta), result.program, result.constitution)

    assert "`always refer when urgent and risk == high`" in shown("must_refer >")
    assert "3 of 3" in shown("high }")
    assert "refer the user to a professional" in shown("refer when")
    assert "`default` → `triage` → `night`" in shown("night")
    assert "bool" in shown("urgent and")


def test_definitions_of_values_variables_and_deployments(checked) -> None:
    path, result = checked
    found = index.declaration_of(_target(checked, "medium\n"), result.program, result.constitution)
    assert found[0] == path and found[1].start == SOURCE.index("medium |")
    found = index.declaration_of(_target(checked, "triage {", 0), result.program, result.constitution)
    assert found[1].start == SOURCE.index("triage {")
    found = index.declaration_of(_target(checked, "honesty.calibrated", 9), result.program, result.constitution)
    assert Path(found[0]).name == "honest.const"


# ---------------------------------------------------------------- completion


def _complete(checked, before: str) -> set[str]:
    path, result = checked
    names = completion.Names(result.program, result.constitution, path)
    return {item.label for item in completion.complete(before, names)}


def test_completion_follows_the_place_in_the_file(checked) -> None:
    assert _complete(checked, "rule r { never ") >= {"refer", "honesty"}
    assert _complete(checked, "deployment d extends ") == {"default", "triage", "night"}
    assert _complete(checked, "conflict a vs b { prefer a when risk in {low, ") == {"low", "medium", "high"}
    assert _complete(checked, "deployment d { assume urgent == ") == {"true", "false"}
    assert _complete(checked, "priority careful > honesty.") >= {"calibrated", "humble"}
    assert "std.harmless" in _complete(checked, "import ")
    assert "harmless" in _complete(checked, "import std.")
    assert _complete(checked, "principle p { applies when urgent ") >= {"and", "or", "critique"}
    assert _complete(checked, "rule r { never refer ") >= {"when", "unless", "detect"}
    assert {"assume", "weight", "disable"} <= _complete(checked, "deployment d {\n    ")


def test_no_completion_inside_comments_strings_or_new_names(checked) -> None:
    assert _complete(checked, "# never ") == set()
    assert _complete(checked, 'principle p { critique "when ') == set()
    assert _complete(checked, "principle ") == set()
    assert _complete(checked, "context { ") == set()
