"""Syntax-error recovery stays linear, and the report of a huge broken file stays readable.

Linearity is asserted by counting work (tokens lexed across every recovery
pass against the tokens in the file), never by timing; `benchmarks/bench_broken.py`
has the timings.
"""

from __future__ import annotations

import io
import sys

import pytest

from cai_lang.cli.run_check import run_check
from cai_lang.diagnostics.render import MAX_LINE, format_text
from cai_lang.span import SourceFile
from cai_lang.syntax import parser as parser_module
from cai_lang.syntax.module import parse_module

BLOCK = 'rule r{i} {{\n    never act_{i} unless\n}}\nprinciple p{i} {{\n    critique "c"\n    weight\n}}\n'


def broken(blocks: int) -> str:
    return "".join(BLOCK.format(i=i) for i in range(blocks))


def test_recovery_lexes_each_token_a_bounded_number_of_times(monkeypatch) -> None:
    text = broken(400)
    lexed = 0
    original = parser_module._lexer_at

    def counting(*args):
        thread = original(*args)
        inner = thread.lex

        def lex(state):
            nonlocal lexed
            for token in inner(state):
                lexed += 1
                yield token

        thread.lex = lex
        return thread

    monkeypatch.setattr(parser_module, "_lexer_at", counting)
    result = parser_module.parse_text(text)
    assert len(result.errors) == 800  # two per block, none lost
    tokens_in_file = sum(1 for _ in parser_module.get_parser().lex(text))
    # The old recovery re-lexed the rest of the file after every error (~400x here).
    assert lexed <= 3 * tokens_in_file


def test_one_megabyte_of_broken_rules_is_checked_with_a_capped_report(tmp_path, monkeypatch) -> None:
    blocks = 1_000_000 // len(BLOCK.format(i=5000))
    path = tmp_path / "broken.const"
    path.write_text(broken(blocks), encoding="utf-8")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    status = run_check([str(path)], None, "text", False, max_errors=10)
    report = out.getvalue()
    assert status == 1
    assert report.count("error[E001]") == 10
    assert f"... and {2 * blocks - 10} more errors in {path}" in report
    assert f"{2 * blocks} errors" in report.splitlines()[-1]


@pytest.mark.parametrize("column", [5, 50_000, 99_990])
def test_long_source_lines_are_cut_around_the_span(column) -> None:
    text = "x" * 100_000
    source = SourceFile("long.const", "principle p { critique " + text + " }")
    _, diagnostics = parse_module(source)
    assert diagnostics
    rendered = format_text(diagnostics[0], {"long.const": source})
    assert max(len(line) for line in rendered.splitlines()) < MAX_LINE + 20
    # Cut the same way for an arbitrary span: the caret still sits under the text it marks.
    from cai_lang.diagnostics.render import _window

    shown, start, end = _window(text[: column - 1] + "ABC" + text[column + 2 :], column, column + 3)
    assert shown[start - 1 : end - 1] == "ABC"
    assert len(shown) <= MAX_LINE + 6
