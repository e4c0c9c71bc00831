"""The formatter: idempotence, meaning kept, comments kept, `caic fmt` behaviour.

Round-trips run over every `.const` file the repository holds at test time
(standard library, examples, test fixtures), a golden file pins the layout,
and a hypothesis property test writes random valid programs in random
layouts (odd spacing, comments everywhere, redundant parentheses, strings
with escapes and newlines) and checks that formatting is idempotent and
keeps the IR, ignoring spans and comments.
"""

from __future__ import annotations

import glob
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cai_lang import api
from cai_lang.cli.app import app
from cai_lang.ir import nodes as ir
from cai_lang.lsp.formatting import format_text, words
from cai_lang.span import SourceFile
from cai_lang.syntax.module import parse_module
from cai_lang.syntax.printer import ir_shape, print_condition, print_module
from cai_lang.syntax.strings import decode_literal, encode_literal

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "fmt"


def _parse(text: str, path: str = "t.const") -> ir.Module:
    module, _ = parse_module(SourceFile(path, text), path)
    return module


def _comments(text: str) -> Counter:
    return Counter(c.text.rstrip() for c in _parse(text).comments)


def _corpus() -> list[Path]:
    # Globbed at test time: the standard library and examples are still growing.
    patterns = ("stdlib_constitutions/**/*.const", "examples/**/*.const", "tests/**/*.const")
    return sorted({Path(p) for pattern in patterns for p in glob.glob(str(ROOT / pattern), recursive=True)})


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: str(p.relative_to(ROOT)))
def test_round_trip(path: Path, tmp_path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    first = format_text(text, str(path))
    if first.text is None:
        assert first.diagnostics, "a file is refused only with a reason"
        return
    second = format_text(first.text, str(path))
    assert second.text == first.text, "formatting is not idempotent"
    assert ir_shape(_parse(first.text)) == ir_shape(_parse(text))
    assert _comments(first.text) == _comments(text)
    assert words(first.text) == words(text), "formatting dropped or changed a name or a string"
    if not api.check_file(path).errors:
        # Formatting must not change what the compiler makes of the file. The
        # copy keeps its name (an unnamed constitution is named after its file)
        # and its neighbours (relative imports).
        copy = tmp_path / path.parent.name
        shutil.copytree(path.parent, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        (copy / path.name).write_text(first.text, encoding="utf-8")
        assert _content_hashes(copy / path.name) == _content_hashes(path)


def _content_hashes(path: Path) -> list[str]:
    return [bundle.content_hash for bundle in api.compile_file(path, all_deployments=True)]


def _shipped() -> list[Path]:
    # What a user copies or imports: the standard library, the examples, the editor sample.
    patterns = ("stdlib_constitutions/**/*.const", "examples/**/*.const", "editors/vscode/test/sample.const")
    return sorted({Path(p) for pattern in patterns for p in glob.glob(str(ROOT / pattern), recursive=True)})


def test_every_shipped_file_is_canonical() -> None:
    shipped = _shipped()
    assert len(shipped) >= 14, shipped
    result = CliRunner().invoke(app, ["fmt", "--check", *map(str, shipped)])
    assert result.exit_code == 0, result.output


def test_golden_layout() -> None:
    source = (FIXTURES / "messy.const").read_text(encoding="utf-8")
    expected = (FIXTURES / "messy.expected.const").read_text(encoding="utf-8")
    assert format_text(source, "messy.const").text == expected


def test_every_comment_survives_where_it_was() -> None:
    formatted = format_text((FIXTURES / "messy.const").read_text(encoding="utf-8")).text
    assert "import std.harmless as harm  # trailing on an import\n" in formatted
    assert "    revision \"Fix it.\"  # the fix\n    # leading comment for compare\n    compare" in formatted
    assert "    # dangling before the brace\n}" in formatted
    assert formatted.endswith("deployment e {}\n# last words\n")


def test_several_trailing_comments_on_one_printed_line() -> None:
    text = "priority a >   # first\n   b > c   # second\n"
    assert format_text(text).text == "# first\npriority a > b > c  # second\n"


def test_numbers_keep_their_text() -> None:
    text = 'principle p {\n    compare "x"\n    weight 2.0\n}\n\ndeployment d {\n    weight p 0.250\n}\n'
    assert format_text(text).text == text


def test_empty_tags_are_dropped_as_they_mean_nothing() -> None:
    assert format_text('principle p { compare "x" tags [] }').text == 'principle p {\n    compare "x"\n}\n'


@pytest.mark.parametrize(
    "source, printed",
    [
        ("a or b and c", "a or b and c"),
        ("(a or b) and c", "(a or b) and c"),
        ("not (a and b)", "not (a and b)"),
        ("(not a) and ((b))", "not a and b"),
        ("a or (b or c)", "a or (b or c)"),
        ("(a and b) or c", "a and b or c"),
        ("not not x == y", "not not x == y"),
        ("r in {low,high} and true", "r in {low, high} and true"),
    ],
)
def test_conditions_get_minimal_parentheses(source: str, printed: str) -> None:
    rule = _parse(f"rule r {{ never act when {source} }}").declarations[0]
    assert print_condition(rule.condition) == printed


def test_syntax_errors_are_not_formatted() -> None:
    result = format_text('principle p {\n    critique "unterminated\n}\n')
    assert result.text is None and [d.code for d in result.diagnostics] == ["E002"]


def test_a_repeated_field_is_not_formatted_away() -> None:
    result = format_text('principle p { compare "a" compare "b" }')
    assert result.text is None and result.diagnostics[0].code == "E107"


def test_print_module_without_source_prints_declarations_only() -> None:
    text = 'principle p { compare "x" } # gone\n'
    assert print_module(_parse(text)) == 'principle p {\n    compare "x"\n}\n'


# ---------------------------------------------------------------- strings

_TEXT = st.lists(st.sampled_from(list('ab "\\\n\t é😀') + ["\u2028", "\x00", "\r", '"""', "  "]), max_size=20).map("".join)


@given(_TEXT, st.sampled_from(["", "    ", "        "]))
def test_encode_literal_round_trips(value: str, indent: str) -> None:
    literal = encode_literal(value, indent)
    assert decode_literal(literal) == (value, [])
    assert not any(line != line.rstrip() for line in literal.split("\n")), "no trailing whitespace"


@given(st.text(st.sampled_from(list('ab\\d{}"\n é')), max_size=20))
def test_encode_literal_raw_round_trips_or_refuses(value: str) -> None:
    try:
        literal = encode_literal(value, "    ", raw=True)
    except ValueError:
        return
    assert decode_literal(literal, raw=True) == (value, [])


# ---------------------------------------------------------------- CLI


def test_cli_check_and_diff_change_nothing(tmp_path: Path) -> None:
    target = tmp_path / "messy.const"
    original = (FIXTURES / "messy.const").read_text(encoding="utf-8")
    target.write_text(original, encoding="utf-8")
    runner = CliRunner()
    checked = runner.invoke(app, ["fmt", "--check", str(target)])
    assert checked.exit_code == 1 and "would reformat" in checked.output
    diffed = runner.invoke(app, ["fmt", "--diff", str(target)])
    assert diffed.exit_code == 0 and "+++ " in diffed.output and "-constitution messy" in diffed.output
    assert target.read_text(encoding="utf-8") == original


def test_cli_formats_in_place_then_check_passes(tmp_path: Path) -> None:
    target = tmp_path / "messy.const"
    target.write_text((FIXTURES / "messy.const").read_text(encoding="utf-8"), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["fmt", str(target)]).exit_code == 0
    assert target.read_text(encoding="utf-8") == (FIXTURES / "messy.expected.const").read_text(encoding="utf-8")
    assert runner.invoke(app, ["fmt", "--check", str(target)]).exit_code == 0


def test_cli_syntax_errors_print_diagnostics_and_exit_1(tmp_path: Path) -> None:
    target = tmp_path / "bad.const"
    target.write_text("principle p {\n    critique: \"x\"\n}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", str(target)])
    assert result.exit_code == 1 and "E001" in result.output
    assert target.read_text(encoding="utf-8") == "principle p {\n    critique: \"x\"\n}\n"


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["fmt", str(tmp_path / "none.const")]).exit_code == 2


# ---------------------------------------------------------------- random programs

KEYWORDS = set(
    "constitution version description import as context bool action principle rule critique revision "
    "compare weight tags applies when unless never always detect regex example prompt response priority "
    "conflict vs prefer otherwise deployment extends assume disable enable not and or in true false".split()
)

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
refs = st.one_of(names, st.builds(lambda a, b: f"{a}.{b}", names, names))
_comment_text = st.text(st.sampled_from(list("ab #{}\"é")), max_size=8)
# What may separate two tokens: spaces, newlines, tabs, comments running to the end of a line.
gap = st.one_of(
    st.sampled_from([" ", "  ", "\n", "\n\n    ", "\t", " \n \n", "\r\n", "\r\n\r\n"]),
    _comment_text.map(lambda t: f"  #{t}\n"),
    _comment_text.map(lambda t: f" #{t}\r\n"),
    _comment_text.map(lambda t: f"\n# {t}\n\n"),
)
opt_gap = st.one_of(st.just(""), gap)
numbers = st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,3})?", fullmatch=True)
_CHARS = list("ab  .,'é😀") + ['"', "\\", "\n", "\t", "\u2028", "}", "#"]


@st.composite
def one_line_string(draw) -> str:
    out = []
    for char in draw(st.lists(st.sampled_from(_CHARS), max_size=12)):
        escaped = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(char)
        if escaped is None and draw(st.booleans()):
            escaped = f"\\u{{{ord(char):x}}}"
        out.append(escaped or char)
    return '"' + "".join(out) + '"'


@st.composite
def block_string(draw) -> str:
    base = " " * draw(st.integers(0, 6))
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        extra = " " * draw(st.integers(0, 3))
        words = draw(st.lists(st.sampled_from(["a", "b c", '\\"', "\\n", "\\u{e9}", "é", "#", "{", "\\\\"]), max_size=4))
        lines.append(base + extra + "".join(words) if words else draw(st.sampled_from(["", base])))
    head = draw(st.sampled_from(["\n", "", " "]))
    return '"""' + head + "\n".join(lines) + "\n" + base + '"""'


strings = st.one_of(one_line_string(), block_string())
regexes = st.lists(st.sampled_from(["\\b", "\\d", "\\\"", "a", "{3}", ".", "*", "é", "[0-9]"]), max_size=6).map(lambda p: '"' + "".join(p) + '"')


def _join(draw, *parts: str) -> str:
    return "".join(part if i == 0 else draw(gap) + part for i, part in enumerate(parts))


@st.composite
def atoms(draw) -> str:
    kind = draw(st.sampled_from(["const", "var", "compare", "in"]))
    if kind == "const":
        return draw(st.sampled_from(["true", "false"]))
    if kind == "var":
        return draw(names)
    if kind == "compare":
        value = draw(st.one_of(names, st.sampled_from(["true", "false"])))
        return _join(draw, draw(names), draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), value)
    values = draw(st.lists(names, min_size=1, max_size=3))
    return draw(names) + draw(gap) + "in" + draw(opt_gap) + "{" + draw(opt_gap) + ",".join(values) + draw(opt_gap) + "}"


conditions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.tuples(gap, inner).map(lambda p: f"not{p[0]}{p[1]}"),
        st.tuples(inner, gap, gap, inner).map(lambda p: f"{p[0]}{p[1]}and{p[2]}{p[3]}"),
        st.tuples(inner, gap, gap, inner).map(lambda p: f"{p[0]}{p[1]}or{p[2]}{p[3]}"),
        st.tuples(opt_gap, inner, opt_gap).map(lambda p: f"({p[0]}{p[1]}{p[2]})"),
    ),
    max_leaves=6,
)


@st.composite
def block(draw, head: str, fields: list[str]) -> str:
    order = draw(st.permutations(fields))
    return head + draw(gap) + "{" + "".join(draw(gap) + f for f in order) + draw(gap) + "}"


@st.composite
def principle(draw) -> str:
    fields = [_join(draw, word, draw(strings)) for word in draw(st.sets(st.sampled_from(["description", "critique", "revision", "compare"])))]
    if draw(st.booleans()):
        fields.append(_join(draw, "weight", draw(numbers)))
    if draw(st.booleans()):
        fields.append("tags" + draw(gap) + "[" + ",".join(draw(opt_gap) + n for n in draw(st.lists(names, max_size=3))) + "]")
    if draw(st.booleans()):
        fields.append(_join(draw, "applies", "when", draw(conditions)))
    for _ in range(draw(st.integers(0, 2))):
        inner = [_join(draw, w, draw(strings)) for w in draw(st.sets(st.sampled_from(["prompt", "response", "critique", "revision"])))]
        fields.append(draw(block("example", inner)))
    return draw(block(_join(draw, "principle", draw(names)), fields))


@st.composite
def rule(draw) -> str:
    fields = []
    if draw(st.booleans()):
        verdict = _join(draw, draw(st.sampled_from(["never", "always"])), draw(refs))
        if draw(st.booleans()):
            verdict = _join(draw, verdict, draw(st.sampled_from(["when", "unless"])), draw(conditions))
        fields.append(verdict)
    if draw(st.booleans()):
        fields.append(_join(draw, "detect", "regex", draw(regexes)))
    return draw(block(_join(draw, "rule", draw(names)), fields))


@st.composite
def priority(draw) -> str:
    members = draw(st.lists(refs, min_size=2, max_size=4))
    return "priority" + draw(gap) + (draw(opt_gap) + ">" + draw(opt_gap)).join(members)


@st.composite
def conflict(draw) -> str:
    left, right = draw(refs), draw(refs)
    clauses = [_join(draw, "prefer", draw(st.sampled_from([left, right])), "when", draw(conditions)) for _ in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        clauses.append(_join(draw, "prefer", left, "otherwise"))
    return draw(block(_join(draw, "conflict", left, "vs", right), clauses))


@st.composite
def deployment(draw) -> str:
    items = draw(
        st.lists(
            st.one_of(
                conditions.map(lambda c: f"assume {c}"),
                st.tuples(refs, numbers).map(lambda p: f"weight {p[0]} {p[1]}"),
                refs.map(lambda r: f"disable {r}"),
                refs.map(lambda r: f"enable {r}"),
                principle(),
                rule(),
                priority(),
                conflict(),
            ),
            max_size=4,
        )
    )
    head = _join(draw, "deployment", draw(names))
    if draw(st.booleans()):
        head = _join(draw, head, "extends", draw(names))
    return head + draw(gap) + "{" + "".join(draw(gap) + item for item in items) + draw(gap) + "}"


@st.composite
def context(draw) -> str:
    variables = []
    for name in draw(st.lists(names, max_size=3)):
        kind = "bool" if draw(st.booleans()) else (draw(opt_gap) + "|" + draw(opt_gap)).join(draw(st.lists(names, min_size=1, max_size=3)))
        variables.append(name + draw(opt_gap) + ":" + draw(gap) + kind)
    return "context" + draw(gap) + "{" + "".join(draw(gap) + v for v in variables) + draw(gap) + "}"


@st.composite
def programs(draw) -> str:
    parts = []
    if draw(st.booleans()):
        fields = [_join(draw, w, draw(strings)) for w in draw(st.sets(st.sampled_from(["version", "description"])))]
        parts.append(draw(block(_join(draw, "constitution", draw(names)), fields)))
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.one_of(names.map(lambda n: f"std.{n}"), one_line_string()))
        parts.append(_join(draw, "import", target, *(["as", draw(names)] if draw(st.booleans()) else [])))
    declarations = st.one_of(
        context(),
        st.tuples(names, st.one_of(st.just(None), strings)).map(lambda p: f"action {p[0]}" + (f" {p[1]}" if p[1] else "")),
        principle(),
        rule(),
        priority(),
        conflict(),
        deployment(),
    )
    parts.extend(draw(st.lists(declarations, max_size=5)))
    return draw(opt_gap) + "".join(part + draw(gap) for part in parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_formatting_random_programs_is_idempotent_and_keeps_meaning(text: str) -> None:
    first = format_text(text, "random.const")
    assert first.text is not None, [d.message for d in first.diagnostics]
    assert format_text(first.text, "random.const").text == first.text
    assert ir_shape(_parse(first.text)) == ir_shape(_parse(text))
    assert _comments(first.text) == _comments(text)
    assert words(first.text) == words(text)
