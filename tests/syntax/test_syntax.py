"""The parser: strings and escapes, triple-quoted dedenting, the whole
grammar lowered to IR with spans, and syntax errors in the language's own
words however the input is broken."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cai_lang.ir import nodes as ir
from cai_lang.span import SourceFile
from cai_lang.syntax.module import parse_module
from cai_lang.syntax.strings import decode_literal, dedent_block

REPO = Path(__file__).resolve().parents[2]


def parse(text: str):
    return parse_module(SourceFile("test.const", text))


def test_escapes_decode_and_bad_ones_are_located() -> None:
    value, errors = decode_literal(r'"tab\there \"quoted\" back\\slash \u{1F600} new\nline"')
    assert value == 'tab\there "quoted" back\\slash \U0001F600 new\nline'
    assert errors == []
    _, errors = decode_literal(r'"bad \q and \u{110000}"')
    assert [e.message for e in errors] == ["unknown escape `\\q`", "`\\u{110000}` is not a Unicode scalar value"]
    assert errors[0].start == 5


def test_triple_quoted_strings_are_dedented() -> None:
    assert dedent_block("\n    first\n      second\n\n    third\n    ") == "first\n  second\n\nthird"
    module, diagnostics = parse('principle p {\n    compare """\n        Which answer\n          is kinder?\n        """\n}\n')
    assert diagnostics == []
    assert module.declarations[0].compare.value == "Which answer\n  is kinder?"


def test_detect_regex_is_raw() -> None:
    module, diagnostics = parse('action a "x"\nrule r {\n    never a\n    detect regex "\\b\\d{3}-\\d{2}\\b"\n}\n')
    assert diagnostics == []
    assert module.declarations[1].detect.value == r"\b\d{3}-\d{2}\b"


def test_declarations_may_share_a_line_and_order_is_free() -> None:
    text = 'action a "x" rule r { never a } principle p { compare "Which is shorter?" } priority r > p context { k: bool }'
    module, diagnostics = parse(text)
    assert diagnostics == []
    assert [type(d).__name__ for d in module.declarations] == ["Action", "Rule", "Principle", "Priority", "ContextBlock"]


def test_condition_precedence_or_and_not() -> None:
    module, _ = parse('principle p { compare "x" applies when not a or b and c }')
    cond = module.declarations[0].applies
    assert isinstance(cond, ir.OrCond)
    assert isinstance(cond.operands[0], ir.NotCond) and isinstance(cond.operands[1], ir.AndCond)


def test_spans_are_one_based_with_exclusive_end() -> None:
    module, _ = parse('\n  principle helpful { compare "x" }')
    name = module.declarations[0].name
    assert (name.span.line, name.span.column, name.span.end_line, name.span.end_column) == (2, 13, 2, 20)
    assert module.declarations[0].span.start == 3


def test_unless_becomes_when_not() -> None:
    module, _ = parse("rule r { never a unless ok }")
    rule = module.declarations[0]
    assert rule.guard == "unless" and isinstance(rule.effective_condition, ir.NotCond)


def test_comments_are_kept_with_positions() -> None:
    module, _ = parse('# top\nprinciple p { compare "has # inside" } # trailing\n')
    assert [c.text for c in module.comments] == ["# top", "# trailing"]


def test_missing_brace_is_reported_where_it_opens() -> None:
    _, diagnostics = parse('principle p {\n    compare "x"\n')
    (finding,) = diagnostics
    assert finding.code == "E001"
    assert finding.message == "this `{` of principle `p` is never closed: the end of the file comes first"
    assert (finding.span.line, finding.span.column) == (1, 13)
    assert finding.related[0].span.line == 3


def test_declaration_keyword_after_unclosed_block_points_at_the_brace() -> None:
    _, diagnostics = parse('context {\n    authorized: bool\n\naction share "x"\n')
    (finding,) = diagnostics
    assert (finding.span.line, finding.span.column) == (1, 9)
    assert "`{` of context is never closed: keyword `action` comes first" in finding.message


def test_declaration_inside_context_block_is_not_called_a_reserved_name() -> None:
    _, diagnostics = parse('context {\n    authorized: bool\n    action share "x"\n}\n')
    (finding,) = diagnostics
    assert "reserved keyword" not in (finding.help or "")
    assert finding.help == "an `action` declaration cannot stand inside context: close its `{` first"
    _, diagnostics = parse("context {\n    action: bool\n}\n")
    assert diagnostics[0].help == "`action` is a reserved keyword and cannot be used as a name"


def test_misspelt_keyword_and_field_get_did_you_mean_and_exact_expected_list() -> None:
    _, diagnostics = parse('principel p {\n    critique "a"\n}\nprinciple q {\n    revision "b"\n    critque "a"\n}\n')
    first, second = diagnostics
    assert first.help == "did you mean `principle`?"
    assert second.help == "did you mean `critique`?"
    # LALR's merged state after `revision "b"` also lists example fields; the
    # message names only what a principle body accepts.
    assert "`prompt`" not in second.message and "`response`" not in second.message
    assert second.message == "expected a principle field such as `critique` or `weight`, or `}`, found name `critque`"


LARK_WORDS = re.compile(r"\$END|\b(RBRACE|LBRACE|NAME|STRING|LONG_STRING|NUMBER|__ANON|_NL|COLON|LSQB|RSQB|MORETHAN)\b")


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_broken_files_get_friendly_errors_never_exceptions(data) -> None:
    sources = sorted((REPO / "stdlib_constitutions").glob("*.const")) + sorted((REPO / "examples").glob("*.const"))
    text = data.draw(st.sampled_from(sources)).read_text(encoding="utf-8")
    start = data.draw(st.integers(0, len(text)))
    length = data.draw(st.integers(0, 40))
    junk = data.draw(st.sampled_from(["", "{", "}", '"', ":", ",", "principle", "==", ">", "\\", "\n", "rule rule"]))
    broken = text[:start] + junk + text[start + length :]
    module, diagnostics = parse(broken)
    for finding in diagnostics:
        assert finding.span is not None and finding.span.line >= 1
        assert not LARK_WORDS.search(finding.message), finding.message
        assert finding.code in {"E001", "E002", "E102", "E107"}


def test_several_errors_in_one_file_are_all_reported() -> None:
    text = (
        'principle a { critique: "x" }\n'
        'principle b { compare "fine" }\n'
        'principle c { weight 1, }\n'
        'principle d { compare "also fine" }\n'
        "principle e { compare }\n"
    )
    module, diagnostics = parse(text)
    assert [d.span.line for d in diagnostics] == [1, 3, 5]
    assert {p.name.value for p in module.declarations} == {"b", "d"}


def test_grammar_has_no_terminal_collisions() -> None:
    """The runtime parser skips Lark's strict check for speed; this keeps it honest."""
    from lark import Lark

    from cai_lang.resources import grammar_file

    Lark.open(str(grammar_file()), parser="lalr", lexer="basic", strict=True, keep_all_tokens=True)
