"""Tests for the VS Code TextMate grammar (editors/vscode/syntaxes/const.tmLanguage.json).

VS Code runs the grammar through vscode-textmate and Oniguruma, neither of
which is available to pytest. This file carries a small TextMate tokenizer
that follows the same rules for the subset the grammar uses (match,
begin/end with patterns, captures/beginCaptures/endCaptures, name and
contentName, include of #repository items and $self) and runs the grammar's
own regexes with Python's ``re``. The grammar keeps to regex syntax that both
engines read the same way; the first test checks that every regex compiles.

The optional `npm run test:grammar` in editors/vscode runs the real engine
over editors/vscode/test/*.test.const.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editors" / "vscode"
GRAMMAR_PATH = EXTENSION / "syntaxes" / "const.tmLanguage.json"
SAMPLE_PATH = EXTENSION / "test" / "sample.const"

# The keyword list of the language contract (LANGUAGE.md, section 1, and
# `comparison` from docs/language.md), kept to compare with the grammar.
CONTRACT_KEYWORDS = """
constitution version description import as context bool action principle rule
critique revision compare weight tags applies when unless never always detect
regex example prompt response priority conflict vs prefer otherwise deployment
extends assume disable enable not and or in true false
test given expect allowed over comparison
""".split()


def grammar_keywords() -> list[str]:
    """Every word the parser's grammar reserves: its literal terminals that look like identifiers."""
    from cai_lang.syntax.parser import get_parser

    return sorted({t.pattern.value for t in get_parser().terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()})


# What the highlighter must cover: whatever the grammar itself reserves.
KEYWORDS = grammar_keywords()

# Scope prefixes that count as "highlighted as a keyword".
KEYWORD_SCOPE_PREFIXES = (
    "keyword.",
    "storage.type.",
    "storage.modifier.",
    "constant.language.",
    "support.type.",
)

REGEX_KEYS = ("match", "begin", "end")


# --------------------------------------------------------------------------
# A minimal TextMate tokenizer
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    line: int  # 0-based
    start: int
    end: int
    text: str
    scopes: tuple[str, ...]


@dataclass
class _Frame:
    rule: dict
    end: re.Pattern[str]
    scopes: tuple[str, ...]  # scopes inside the region (name + contentName)
    outer: tuple[str, ...]  # scopes for the end match (name only)
    pushed_at: tuple[int, int]  # (line, column) of the begin match end


class Tokenizer:
    def __init__(self, grammar: dict) -> None:
        self.grammar = grammar
        self.repository = grammar.get("repository", {})
        self.root_scope = grammar["scopeName"]
        self._compiled: dict[str, re.Pattern[str]] = {}
        self._flat: dict[int, list[dict]] = {}

    def regex(self, source: str) -> re.Pattern[str]:
        pattern = self._compiled.get(source)
        if pattern is None:
            pattern = self._compiled[source] = re.compile(source)
        return pattern

    def _resolve(self, ref: dict, seen: tuple[int, ...] = ()) -> list[dict]:
        """Expand includes into a flat list of match and begin/end rules."""
        if "include" in ref:
            target = ref["include"]
            if target == "$self" or target == "$base":
                rules = [{"patterns": self.grammar["patterns"]}]
            elif target.startswith("#"):
                rules = [self.repository[target[1:]]]
            else:
                raise ValueError(f"include of another grammar is not supported: {target}")
            out: list[dict] = []
            for rule in rules:
                if id(rule) not in seen:
                    out.extend(self._resolve(rule, seen + (id(rule),)))
            return out
        if "match" in ref or "begin" in ref:
            return [ref]
        out = []
        for sub in ref.get("patterns", []):
            out.extend(self._resolve(sub, seen))
        return out

    def patterns_of(self, rule: dict) -> list[dict]:
        key = id(rule)
        if key not in self._flat:
            flat: list[dict] = []
            for sub in rule.get("patterns", []):
                flat.extend(self._resolve(sub))
            self._flat[key] = flat
        return self._flat[key]

    @staticmethod
    def _capture_tokens(
        match: re.Match[str], captures: dict, base: tuple[str, ...], lineno: int
    ) -> list[Token]:
        start, end = match.span()
        per_char: list[tuple[str, ...]] = [base] * (end - start)
        # Lower group numbers open first, so applying captures in numeric
        # order nests inner groups inside outer ones.
        for key in sorted(captures, key=int):
            scope = captures[key].get("name")
            group = int(key)
            if scope is None or match.start(group) < 0:
                continue
            for i in range(match.start(group), match.end(group)):
                per_char[i - start] = per_char[i - start] + (scope,)
        tokens: list[Token] = []
        text = match.string
        i = start
        while i < end:
            j = i
            while j < end and per_char[j - start] == per_char[i - start]:
                j += 1
            tokens.append(Token(lineno, i, j, text[i:j], per_char[i - start]))
            i = j
        return tokens

    def tokenize(self, source: str) -> list[Token]:
        root = {"patterns": self.grammar["patterns"]}
        stack: list[_Frame] = []
        tokens: list[Token] = []
        for lineno, raw in enumerate(source.split("\n")):
            line = raw + "\n"  # vscode-textmate also feeds lines with a newline
            pos = 0
            while pos < len(line):
                top = stack[-1] if stack else None
                scopes = top.scopes if top else (self.root_scope,)
                rules = self.patterns_of(top.rule if top else root)

                best: tuple[int, int, re.Match[str], dict | None] | None = None
                if top is not None:
                    m = top.end.search(line, pos)
                    if m:
                        order = len(rules) if top.rule.get("applyEndPatternLast") else -1
                        best = (m.start(), order, m, None)
                for order, rule in enumerate(rules):
                    m = self.regex(rule["match"] if "match" in rule else rule["begin"]).search(line, pos)
                    if m and (best is None or (m.start(), order) < best[:2]):
                        best = (m.start(), order, m, rule)

                if best is None:
                    tokens.append(Token(lineno, pos, len(line), line[pos:], scopes))
                    break
                start, _, m, rule = best
                if start > pos:
                    tokens.append(Token(lineno, pos, start, line[pos:start], scopes))

                if rule is None:  # end of the current region
                    frame = stack.pop()
                    captures = frame.rule.get("endCaptures", frame.rule.get("captures", {}))
                    tokens.extend(self._capture_tokens(m, captures, frame.outer, lineno))
                    pos = m.end()
                    continue

                if "match" in rule:
                    inner = scopes + ((rule["name"],) if "name" in rule else ())
                    tokens.extend(self._capture_tokens(m, rule.get("captures", {}), inner, lineno))
                    if m.end() == pos:  # empty match: step over one character
                        tokens.append(Token(lineno, pos, pos + 1, line[pos], scopes))
                        pos += 1
                    else:
                        pos = m.end()
                    continue

                outer = scopes + ((rule["name"],) if "name" in rule else ())
                inside = outer + ((rule["contentName"],) if "contentName" in rule else ())
                captures = rule.get("beginCaptures", rule.get("captures", {}))
                tokens.extend(self._capture_tokens(m, captures, outer, lineno))
                if "\\" in re.sub(r"\\[^0-9]", "", rule["end"]):
                    raise ValueError(f"back-references in end are not supported: {rule['end']}")
                here = (lineno, m.end())
                if m.end() == pos and top is not None and top.rule is rule and top.pushed_at == here:
                    # The same empty region again at the same place: vscode-textmate
                    # refuses to loop here; step over one character instead.
                    tokens.append(Token(lineno, pos, pos + 1, line[pos], scopes))
                    pos += 1
                    continue
                stack.append(_Frame(rule, self.regex(rule["end"]), inside, outer, here))
                pos = m.end()
        return [t for t in tokens if t.text and t.text != "\n"]


# --------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grammar() -> dict:
    return json.loads(GRAMMAR_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizer(grammar: dict) -> Tokenizer:
    return Tokenizer(grammar)


# sample.const is canonical (`caic fmt --check` passes on it, like every
# shipped file), so layouts the formatter never writes are appended here:
# escapes, redundant parentheses, an invalid escape, a chain across lines.
LAYOUTS = r"""
# Layouts the formatter rewrites, kept for the tokenizer.
principle layouts {
    revision "Rewrite it:\n\tanswer the question \u{2014} fully \\ safely."
    compare "Which response does more for the user? \q is not an escape."
    applies when topic == medical and not (risk < medium)
}

priority honesty.calibrated
    > helpful
"""


def _sample_text() -> str:
    return SAMPLE_PATH.read_text(encoding="utf-8") + LAYOUTS


@pytest.fixture(scope="module")
def sample_lines() -> list[str]:
    return _sample_text().split("\n")


@pytest.fixture(scope="module")
def sample_tokens(tokenizer: Tokenizer) -> list[Token]:
    return tokenizer.tokenize(_sample_text())


def _walk_rules(node, path="grammar"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in REGEX_KEYS and isinstance(value, str):
                yield f"{path}.{key}", value
            else:
                yield from _walk_rules(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_rules(value, f"{path}[{i}]")


def find_line(lines: list[str], needle: str, occurrence: int = 0) -> int:
    hits = [i for i, line in enumerate(lines) if needle in line]
    assert len(hits) > occurrence, f"sample.const has no line containing {needle!r}"
    return hits[occurrence]


def scopes_of(tokens: list[Token], lines: list[str], line_needle: str, text: str, *, occurrence: int = 0) -> tuple[str, ...]:
    """Scopes of the token that covers ``text`` on the first line containing ``line_needle``.

    ``text`` must lie within a single token; that is part of what is tested.
    """
    lineno = find_line(lines, line_needle, occurrence)
    col = lines[lineno].index(text)
    for tok in tokens:
        if tok.line == lineno and tok.start <= col < tok.end:
            assert tok.end >= col + len(text), (
                f"{text!r} on line {lineno + 1} is split across tokens; first is {tok}"
            )
            return tok.scopes
    raise AssertionError(f"no token covers {text!r} on line {lineno + 1}")


def scope_of_line(tokenizer: Tokenizer, source: str, text: str) -> tuple[str, ...]:
    """Scopes of ``text`` within a one-off snippet."""
    lines = source.split("\n")
    return scopes_of(tokenizer.tokenize(source), lines, text, text)


def has_scope(scopes: tuple[str, ...], prefix: str) -> bool:
    return any(s == prefix or s.startswith(prefix + ".") for s in scopes)


# --------------------------------------------------------------------------
# Grammar file
# --------------------------------------------------------------------------


def test_grammar_metadata(grammar: dict) -> None:
    assert grammar["scopeName"] == "source.const"
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "caic-const"
    (entry,) = manifest["contributes"]["grammars"]
    assert entry["scopeName"] == "source.const"
    assert (EXTENSION / entry["path"]).resolve() == GRAMMAR_PATH.resolve()
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == entry["language"] == "const"
    assert ".const" in language["extensions"]
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["caic.serverPath"]["default"] == "caic"
    assert settings["caic.serverArgs"]["default"] == ["lsp"]


def test_language_configuration() -> None:
    config = json.loads((EXTENSION / "language-configuration.json").read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    assert {tuple(pair) for pair in config["brackets"]} == {("{", "}"), ("[", "]"), ("(", ")")}
    opens = {pair["open"] for pair in config["autoClosingPairs"]}
    assert {'"', '"""', "{", "[", "("} <= opens
    markers = config["folding"]["markers"]
    assert re.search(markers["start"], "principle helpful {")
    assert re.search(markers["end"], "    }")
    assert not re.search(markers["start"], 'principle p { compare "x" }')


def test_every_regex_compiles_with_python_re(grammar: dict) -> None:
    found = list(_walk_rules(grammar))
    assert len(found) > 20
    for where, source in found:
        try:
            re.compile(source)
        except re.error as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{where}: {source!r} does not compile with re: {exc}")


def test_includes_resolve(grammar: dict) -> None:
    names = set(grammar["repository"])
    for where, value in _walk_includes(grammar):
        if value not in ("$self", "$base"):
            assert value.startswith("#") and value[1:] in names, f"{where}: bad include {value!r}"


def _walk_includes(node, path="grammar"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "include":
                yield path, value
            else:
                yield from _walk_includes(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_includes(value, f"{path}[{i}]")


# --------------------------------------------------------------------------
# Keywords
# --------------------------------------------------------------------------


def test_the_grammar_reserves_the_contract_keywords() -> None:
    assert len(CONTRACT_KEYWORDS) == len(set(CONTRACT_KEYWORDS))
    assert set(KEYWORDS) == set(CONTRACT_KEYWORDS)


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_every_keyword_is_highlighted(tokenizer: Tokenizer, keyword: str) -> None:
    # Alone on a line, and between ordinary identifiers.
    for source in (keyword, f"x {keyword} y"):
        scopes = scope_of_line(tokenizer, source, keyword)
        assert any(s.startswith(KEYWORD_SCOPE_PREFIXES) for s in scopes), (source, scopes)
        assert not has_scope(scopes, "variable.other"), (source, scopes)


@pytest.mark.parametrize("word", ["principles", "ruler", "android", "inner", "notable", "true_", "_if", "vsx", "as2"])
def test_identifiers_containing_keywords_are_not_keywords(tokenizer: Tokenizer, word: str) -> None:
    scopes = scope_of_line(tokenizer, f"tags [{word}]", word)
    assert has_scope(scopes, "variable.other"), scopes
    assert not any(s.startswith(KEYWORD_SCOPE_PREFIXES) for s in scopes), scopes


def test_keyword_categories(sample_tokens, sample_lines) -> None:
    def sc(line, text, occurrence=0):
        return scopes_of(sample_tokens, sample_lines, line, text, occurrence=occurrence)

    assert has_scope(sc("principle helpful {", "principle"), "storage.type.principle")
    assert has_scope(sc("rule hipaa {", "rule"), "storage.type.rule")
    assert has_scope(sc("context {", "context"), "storage.type.context")
    assert has_scope(sc("conflict helpful vs", "conflict"), "storage.type.conflict")
    assert has_scope(sc("deployment clinic {", "deployment"), "storage.type.deployment")
    assert has_scope(sc("constitution medical {", "constitution"), "storage.type.constitution")
    assert has_scope(sc("action disclose_phi", "action"), "storage.type.action")
    assert has_scope(sc("import std.harmless", "import"), "keyword.control.import")
    assert has_scope(sc("    critique \"Point out where", "critique"), "keyword.other.field")
    assert has_scope(sc("weight 2.0", "weight"), "keyword.other.field")
    assert has_scope(sc("tags [medical", "tags"), "keyword.other.field")
    assert has_scope(sc("applies when topic", "applies"), "keyword.other.field")
    assert has_scope(sc("applies when topic", "when"), "keyword.control.conditional")
    assert has_scope(sc("applies when topic", "and"), "keyword.operator.logical")
    assert has_scope(sc("applies when topic", "not"), "keyword.operator.logical")
    assert has_scope(sc("applies when topic", "=="), "keyword.operator.comparison")
    assert has_scope(sc("applies when topic", "<"), "keyword.operator.comparison")
    assert has_scope(sc("never disclose_phi", "never"), "keyword.control.rule")
    assert has_scope(sc("never disclose_phi", "unless"), "keyword.control.conditional")
    assert has_scope(sc("always disclose_phi", "always"), "keyword.control.rule")
    assert has_scope(sc("detect regex", "detect"), "keyword.other.field")
    assert has_scope(sc("detect regex", "regex"), "keyword.other.field")
    assert has_scope(sc("conflict helpful vs", "vs"), "keyword.other.conflict")
    assert has_scope(sc("prefer helpful otherwise", "prefer"), "keyword.other.conflict")
    assert has_scope(sc("prefer helpful otherwise", "otherwise"), "keyword.control.conditional")
    assert has_scope(sc("risk >= medium", ">="), "keyword.operator.comparison")
    assert has_scope(sc("risk != high", "!="), "keyword.operator.comparison")
    assert has_scope(sc("risk != high and true", "true"), "constant.language.boolean")
    assert has_scope(sc("assume authorized and false", "false"), "constant.language.boolean")
    assert has_scope(sc("authorized: bool", "bool"), "support.type.primitive")
    assert has_scope(sc("assume topic", "assume"), "keyword.other.deployment")
    assert has_scope(sc("disable honesty", "disable"), "keyword.other.deployment")
    assert has_scope(sc("enable honesty", "enable"), "keyword.other.deployment")
    assert has_scope(sc("extends clinic", "extends"), "storage.modifier.extends")
    assert has_scope(sc("example {", "example"), "keyword.other.field")
    assert has_scope(sc("prompt \"Can I", "prompt"), "keyword.other.field")
    assert has_scope(sc("response \"Yes", "response"), "keyword.other.field")


def test_as_and_in(sample_tokens, sample_lines) -> None:
    line = find_line(sample_lines, "import std.honest as honesty")
    col = sample_lines[line].index(" as ") + 1
    (tok,) = [t for t in sample_tokens if t.line == line and t.start == col]
    assert tok.text == "as" and has_scope(tok.scopes, "keyword.control.import")

    line = find_line(sample_lines, "topic in {legal")
    col = sample_lines[line].index(" in ") + 1
    (tok,) = [t for t in sample_tokens if t.line == line and t.start == col]
    assert tok.text == "in" and has_scope(tok.scopes, "keyword.operator.membership")


# --------------------------------------------------------------------------
# Specific constructs in the sample
# --------------------------------------------------------------------------


def test_comment(sample_tokens, sample_lines) -> None:
    scopes = scopes_of(sample_tokens, sample_lines, "# Sample constitution", "Sample constitution")
    assert has_scope(scopes, "comment.line.number-sign")
    trailing = scopes_of(sample_tokens, sample_lines, "import std.harmless", "stdlib module")
    assert has_scope(trailing, "comment.line.number-sign")
    # The `#` itself is punctuation inside the comment.
    hash_scopes = scopes_of(sample_tokens, sample_lines, "import std.harmless", "#")
    assert has_scope(hash_scopes, "punctuation.definition.comment")
    assert has_scope(hash_scopes, "comment.line.number-sign")


def test_declared_names(sample_tokens, sample_lines) -> None:
    def sc(line, text):
        return scopes_of(sample_tokens, sample_lines, line, text)

    assert has_scope(sc("principle helpful {", "helpful"), "entity.name.type.principle")
    assert has_scope(sc("principle accurate {", "accurate"), "entity.name.type.principle")
    assert has_scope(sc("principle bedside_manner {", "bedside_manner"), "entity.name.type.principle")
    assert has_scope(sc("rule hipaa {", "hipaa"), "entity.name.type.rule")
    assert has_scope(sc("action disclose_phi", "disclose_phi"), "entity.name.type.action")
    assert has_scope(sc("deployment clinic {", "clinic"), "entity.name.type.deployment")
    assert has_scope(sc("constitution medical {", "medical"), "entity.name.type.constitution")
    assert has_scope(sc("extends clinic", "research"), "entity.name.type.deployment")
    assert has_scope(sc("extends clinic", "clinic"), "entity.other.inherited-class")
    # Used, not declared: a plain identifier.
    assert has_scope(sc("never disclose_phi", "disclose_phi"), "variable.other")
    assert has_scope(sc("authorized: bool", "authorized"), "variable.other.definition")


def test_declared_name_on_next_line(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("principle   # the name follows\n    kind {\n")
    (name,) = [t for t in tokens if t.text == "kind"]
    assert has_scope(name.scopes, "entity.name.type.principle")
    (comment,) = [t for t in tokens if "name follows" in t.text]
    assert has_scope(comment.scopes, "comment.line.number-sign")
    (brace,) = [t for t in tokens if t.text == "{"]
    assert not has_scope(brace.scopes, "entity.name")


def test_line_string_and_escapes(sample_tokens, sample_lines) -> None:
    def sc(line, text):
        return scopes_of(sample_tokens, sample_lines, line, text)

    line = 'critique "Point out where the response misses'
    assert has_scope(sc(line, "Point out"), "string.quoted.double")
    assert has_scope(sc(line, '\\"'), "constant.character.escape")
    assert has_scope(sc(line, '\\"'), "string.quoted.double")
    line = 'revision "Rewrite it:'
    for escape in ("\\n", "\\t", "\\u{2014}", "\\\\"):
        scopes = sc(line, escape)
        assert has_scope(scopes, "constant.character.escape"), (escape, scopes)
        assert not has_scope(scopes, "invalid"), (escape, scopes)
    # The string closes at the final quote: the next line is not a string.
    assert not has_scope(sc('compare "Which response does more', "compare"), "string")


def test_invalid_escape(sample_tokens, sample_lines) -> None:
    scopes = scopes_of(sample_tokens, sample_lines, "\\q is not an escape", "\\q")
    assert has_scope(scopes, "invalid.illegal.escape")
    assert has_scope(scopes, "string.quoted.double")


@pytest.mark.parametrize("escape", ["\\x41", "\\u{}", "\\u{XYZ}", "\\'", "\\r", "\\u2014"])
def test_more_invalid_escapes(tokenizer: Tokenizer, escape: str) -> None:
    source = f'critique "a {escape} b"'
    tokens = tokenizer.tokenize(source)
    col = source.index(escape)
    (tok,) = [t for t in tokens if t.start == col]
    assert has_scope(tok.scopes, "invalid.illegal.escape"), (escape, tok)


def test_unterminated_line_string_stops_at_end_of_line(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize('critique "no closing quote\nrevision "ok"\n')
    (kw,) = [t for t in tokens if t.text == "revision"]
    assert has_scope(kw.scopes, "keyword.other.field")


def test_triple_quoted_string_spans_lines(sample_tokens, sample_lines) -> None:
    start = find_line(sample_lines, 'description """')
    end = find_line(sample_lines, '"""', 1)
    assert end == start + 3
    opening = scopes_of(sample_tokens, sample_lines, 'description """', '"""')
    assert has_scope(opening, "string.quoted.triple")
    assert has_scope(opening, "punctuation.definition.string.begin")
    for needle in ("Medical statements are accurate", "and hedged where"):
        assert has_scope(scopes_of(sample_tokens, sample_lines, needle, needle), "string.quoted.triple")
    closing_line = sample_lines[end]
    col = closing_line.index('"""')
    (closing,) = [t for t in sample_tokens if t.line == end and t.start == col]
    assert has_scope(closing.scopes, "punctuation.definition.string.end")
    # After the closing quotes we are back in code.
    assert has_scope(scopes_of(sample_tokens, sample_lines, "critique \"Point out medical", "critique"), "keyword.other.field")


def test_triple_quoted_string_keeps_quotes_and_keywords_inside(tokenizer: Tokenizer) -> None:
    source = 'compare """\n  say "never" # not a comment\n  principle x\n"""\nweight 2'
    tokens = tokenizer.tokenize(source)
    for text in ("never", "# not a comment", "principle x"):
        (tok,) = [t for t in tokens if text in t.text]
        assert has_scope(tok.scopes, "string.quoted.triple"), (text, tok)
        assert not has_scope(tok.scopes, "comment")
    (weight,) = [t for t in tokens if t.text == "weight"]
    assert not has_scope(weight.scopes, "string")


def test_detect_regex_keeps_backslashes(sample_tokens, sample_lines) -> None:
    scopes = scopes_of(sample_tokens, sample_lines, "detect regex", "\\d")
    assert has_scope(scopes, "string.regexp")
    assert not has_scope(scopes, "invalid")
    assert has_scope(scopes_of(sample_tokens, sample_lines, "detect regex", "{3}-"), "string.regexp")


def test_numbers(sample_tokens, sample_lines) -> None:
    assert has_scope(scopes_of(sample_tokens, sample_lines, "weight 2.0", "2.0"), "constant.numeric")
    assert has_scope(scopes_of(sample_tokens, sample_lines, "weight accurate 3", "3"), "constant.numeric")
    # Digits inside a string are string, not number.
    assert not has_scope(scopes_of(sample_tokens, sample_lines, 'version "1.2.0"', "1.2.0"), "constant.numeric")


def test_qualified_reference(sample_tokens, sample_lines) -> None:
    line = "priority duty_to_warn > hipaa > accurate > harmless.least_harmful"
    alias = scopes_of(sample_tokens, sample_lines, line, "harmless")
    dot = scopes_of(sample_tokens, sample_lines, line, ".")
    name = scopes_of(sample_tokens, sample_lines, line, "least_harmful")
    assert has_scope(alias, "entity.name.namespace")
    assert has_scope(dot, "punctuation.accessor")
    assert has_scope(name, "variable.other.reference")
    for scopes in (alias, dot, name):
        assert has_scope(scopes, "meta.reference.qualified")
    assert has_scope(scopes_of(sample_tokens, sample_lines, "disable honesty.humble", "humble"), "variable.other.reference")
    assert has_scope(
        scopes_of(sample_tokens, sample_lines, "prefer harmless.least_harmful", "least_harmful"),
        "variable.other.reference",
    )


def test_imports(sample_tokens, sample_lines) -> None:
    def sc(line, text):
        return scopes_of(sample_tokens, sample_lines, line, text)

    assert has_scope(sc("import std.harmless", "std.harmless"), "entity.name.namespace")
    assert has_scope(sc("import std.honest as honesty", "honesty"), "entity.name.namespace")
    path = sc('import "./hospital.const"', "./hospital.const")
    assert has_scope(path, "string.quoted.double")
    lineno = find_line(sample_lines, 'import "./hospital.const" as hospital')
    (alias,) = [t for t in sample_tokens if t.line == lineno and t.text == "hospital"]
    assert has_scope(alias.scopes, "entity.name.namespace")


def test_priority_chain(sample_tokens, sample_lines) -> None:
    line = "priority duty_to_warn > hipaa"
    lineno = find_line(sample_lines, line)
    gts = [t for t in sample_tokens if t.line == lineno and t.text == ">"]
    assert len(gts) == 3
    for tok in gts:
        assert has_scope(tok.scopes, "keyword.operator.priority"), tok
        assert not has_scope(tok.scopes, "keyword.operator.comparison"), tok
    assert has_scope(scopes_of(sample_tokens, sample_lines, line, "priority"), "storage.type.priority")
    # A chain continued on the next line.
    cont = find_line(sample_lines, "    > helpful")
    (gt,) = [t for t in sample_tokens if t.line == cont and t.text == ">"]
    assert has_scope(gt.scopes, "keyword.operator.priority")
    # In a deployment, the chain ends at the closing brace.
    dep = find_line(sample_lines, "priority bedside_manner > helpful")
    (gt,) = [t for t in sample_tokens if t.line == dep and t.text == ">"]
    assert has_scope(gt.scopes, "keyword.operator.priority")
    brace = [t for t in sample_tokens if t.line == dep + 1 and t.text == "}"]
    assert brace and not has_scope(brace[0].scopes, "meta.priority")
    # The chain ends at the next declaration keyword.
    nxt = scopes_of(sample_tokens, sample_lines, "conflict helpful vs", "conflict")
    assert not has_scope(nxt, "meta.priority")


def test_comparison_greater_than_outside_priority(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("rule r { never a when risk > low }\npriority a > b\n")
    gts = [t for t in tokens if t.text == ">"]
    assert has_scope(gts[0].scopes, "keyword.operator.comparison")
    assert has_scope(gts[1].scopes, "keyword.operator.priority")


def test_punctuation(sample_tokens, sample_lines) -> None:
    assert has_scope(scopes_of(sample_tokens, sample_lines, "principle helpful {", "{"), "punctuation.section.block.begin")
    assert has_scope(scopes_of(sample_tokens, sample_lines, "tags [medical", "["), "punctuation.section.brackets.begin")
    assert has_scope(scopes_of(sample_tokens, sample_lines, "tags [medical", ","), "punctuation.separator.comma")
    assert has_scope(scopes_of(sample_tokens, sample_lines, "not (risk", "("), "punctuation.section.parens.begin")
    assert has_scope(scopes_of(sample_tokens, sample_lines, "topic: general |", "|"), "punctuation.separator.enum")


def test_sample_has_no_unscoped_code(sample_tokens) -> None:
    """Every non-blank piece of the sample gets a scope beyond source.const."""
    bare = [t for t in sample_tokens if t.text.strip() and len(t.scopes) == 1]
    assert not bare, bare[:5]


# --------------------------------------------------------------------------
# The vscode-tmgrammar-test assertions, checked with the tokenizer above
# --------------------------------------------------------------------------

ASSERTION = re.compile(r"^#(?P<pad>\s*)(?:(?P<carets>\^+)|<(?P<dashes>-+))\s+(?P<scopes>.+?)\s*$")


def _syntax_test_assertions(path: Path):
    """Yield (source line number, first column, last column, required, prohibited)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0].startswith('# SYNTAX TEST "source.const"')
    source_line = None
    for lineno, line in enumerate(lines[1:], start=1):
        m = ASSERTION.match(line)
        if m is None:
            source_line = lineno
            continue
        assert source_line is not None, f"assertion before any source line at {lineno + 1}"
        if m["carets"]:
            first = 1 + len(m["pad"])
            width = len(m["carets"])
        else:
            first = 0
            width = len(m["dashes"])
        required, _, prohibited = m["scopes"].partition(" - ")
        if m["scopes"].startswith("- "):
            required, prohibited = "", m["scopes"][2:]
        yield source_line, first, first + width, required.split(), prohibited.split()


def test_vscode_tmgrammar_test_assertions(tokenizer: Tokenizer) -> None:
    path = EXTENSION / "test" / "grammar.test.const"
    tokens = tokenizer.tokenize(path.read_text(encoding="utf-8"))
    by_line: dict[int, list[Token]] = {}
    for tok in tokens:
        by_line.setdefault(tok.line, []).append(tok)
    checked = 0
    for line, first, last, required, prohibited in _syntax_test_assertions(path):
        for col in range(first, last):
            (tok,) = [t for t in by_line.get(line, []) if t.start <= col < t.end]
            for scope in required:
                assert scope in tok.scopes, f"line {line + 1} col {col + 1}: {scope} missing from {tok}"
            for scope in prohibited:
                assert not has_scope(tok.scopes, scope), f"line {line + 1} col {col + 1}: {scope} present in {tok}"
        checked += 1
    assert checked >= 50


def test_triple_quoted_string_escapes(tokenizer: Tokenizer) -> None:
    # Triple-quoted strings take the same escapes; unknown ones are errors there too.
    source = 'revision """\n  ok \\n \\u{41} \\" bad \\q\n"""\nweight 1'
    tokens = tokenizer.tokenize(source)
    by_text = {t.text: t for t in tokens}
    for escape in ("\\n", "\\u{41}", '\\"'):
        assert has_scope(by_text[escape].scopes, "constant.character.escape"), escape
    assert has_scope(by_text["\\q"].scopes, "invalid.illegal.escape")
    assert not has_scope(by_text["weight"].scopes, "string")


def test_escaped_quote_does_not_close_a_triple_quoted_string(tokenizer: Tokenizer) -> None:
    # As in the compiler's lexer, a backslash pairs with the next character:
    # `\"""` is an escaped quote and two more quotes, not the end.
    tokens = tokenizer.tokenize('compare """a \\""" b""" weight 2')
    escape = next(t for t in tokens if t.text == '\\"')
    assert has_scope(escape.scopes, "constant.character.escape")
    closes = [t for t in tokens if has_scope(t.scopes, "punctuation.definition.string.end")]
    assert len(closes) == 1 and tokens.index(closes[0]) > tokens.index(escape)
    (weight,) = [t for t in tokens if t.text == "weight"]
    assert has_scope(weight.scopes, "keyword.other.field")


def test_detect_regex_triple_quoted_and_on_next_line(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize('detect regex """\\d+ "x" \\s"""\ndetect regex\n    "\\w"\nnever a')
    for text in ("\\d", "\\s", "\\w"):
        (tok,) = [t for t in tokens if t.text == text]
        assert has_scope(tok.scopes, "string.regexp") and not has_scope(tok.scopes, "invalid"), tok
    (never,) = [t for t in tokens if t.text == "never"]
    assert has_scope(never.scopes, "keyword.control.rule")


def test_negative_number(tokenizer: Tokenizer) -> None:
    tokens = tokenizer.tokenize("weight accurate -0.5")
    (num,) = [t for t in tokens if t.text == "-0.5"]
    assert has_scope(num.scopes, "constant.numeric")


def test_few_shot_fields_and_contextual_words(tokenizer: Tokenizer) -> None:
    source = (
        "comparison {\n    user \"Hi\"\n    assistant \"Hello\"\n    reasoning \"Because.\"\n}\n"
        "example {\n    critique request \"Point out harm.\"\n}\n"
        "constitution c {\n    phase sl\n}\n"
        "context {\n    user: anonymous | verified\n    phase: early | late\n}\n"
    )
    lines = source.split("\n")
    tokens = tokenizer.tokenize(source)
    for line, word in (("comparison {", "comparison"), ("user \"Hi", "user"), ("assistant", "assistant"), ("reasoning", "reasoning"), ("request", "request"), ("phase sl", "phase")):
        scopes = scopes_of(tokens, lines, line, word)
        assert has_scope(scopes, "keyword.other.field") or has_scope(scopes, "storage.type"), (word, scopes)
    assert has_scope(scopes_of(tokens, lines, "phase sl", "sl"), "constant.language")
    # As context variables they are names, not keywords.
    for line, word in (("user: anonymous", "user"), ("phase: early", "phase")):
        assert not has_scope(scopes_of(tokens, lines, line, word), "keyword"), word


def test_language_1_2_contextual_words(tokenizer: Tokenizer) -> None:
    """`hard` before `rule`, `by user` / `by operator` and `users can/cannot change` are
    highlighted as keywords; the same words elsewhere stay ordinary names."""
    assert has_scope(scope_of_line(tokenizer, "hard rule no_uplift {", "hard"), "storage.modifier.hard")
    line = 'adult: bool "the user says they are an adult" by user'
    assert has_scope(scope_of_line(tokenizer, line, "by"), "keyword.other.authority")
    tokens = tokenizer.tokenize("    minor: bool by operator\n")
    (who,) = [t for t in tokens if t.text == "operator"]
    assert has_scope(who.scopes, "constant.language.authority")
    assert has_scope(scope_of_line(tokenizer, "expect users cannot change uplift", "cannot"), "keyword.other.test")
    for source, word in (("tags [hard]", "hard"), ("tags [by, user]", "by"), ("never hard when operator", "operator")):
        assert has_scope(scope_of_line(tokenizer, source, word), "variable.other"), source
