"""The language server on language 1.2: hover says who can change a verdict and
who sets a variable; completion offers `by user` / `by operator` and `hard`."""

from __future__ import annotations

import textwrap

import pytest

types = pytest.importorskip("lsprotocol.types", reason="the lsp extra is not installed (pip install -e '.[lsp]')")

from cai_lang.api import check_file  # noqa: E402 - after the skip
from cai_lang.lsp import completion, hover, index  # noqa: E402

SOURCE = textwrap.dedent(
    """\
    context {
        adult: bool "the user says they are an adult" by user
        verified: bool "the operator verified the user's age"
    }

    action uplift "give meaningful help towards a weapon of mass harm"
    action explicit "write sexually explicit content"

    hard rule no_uplift {
        never uplift
    }

    rule adults_only {
        never explicit unless adult or verified
    }

    deployment checked {
        assume verified
    }
    """
)


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    path = tmp_path_factory.mktemp("authority") / "a.const"
    path.write_text(SOURCE, encoding="utf-8")
    result = check_file(path)
    assert not result.errors, result.diagnostics
    return str(path), result


def _hover(checked, needle: str, delta: int = 0) -> str:
    path, result = checked
    target = index.target_at(result.program, path, SOURCE.index(needle) + delta)
    return hover.hover_markdown(target, result.program, result.constitution)


def test_hover_shows_who_can_change_each_verdict_per_deployment(checked) -> None:
    on_action = _hover(checked, "explicit unless", 1)
    assert "| `default` | user | `adult` |" in on_action
    assert "| `checked` | operator | – |" in on_action
    on_rule = _hover(checked, "no_uplift", 1)
    assert on_rule.startswith("**hard rule** `no_uplift`")
    assert "| `default` | nobody | – |" in on_rule and "| `checked` | nobody | – |" in on_rule


def test_hover_on_a_variable_shows_its_description_and_who_sets_it(checked) -> None:
    text = _hover(checked, "adult or", 1)
    assert "set by the user" in text and "the user says they are an adult" in text
    assert "set by the operator" in _hover(checked, "verified\n", 1)


def test_completion_of_by_and_hard(checked) -> None:
    path, result = checked
    names = completion.Names(result.program, result.constitution, path)

    def labels(before: str) -> set[str]:
        return {item.label for item in completion.complete(before, names)}

    assert labels("context {\n    minor: bool ") == {"by user", "by operator"}
    assert labels('context {\n    risk: low | high "the harm" ') == {"by user", "by operator"}
    assert labels("context {\n    minor: bool by ") == {"user", "operator"}
    assert "hard" in labels("") and "hard" in labels("deployment d {\n    ")
    assert labels("hard ") == {"rule"}
    assert labels("context { ") == set()
