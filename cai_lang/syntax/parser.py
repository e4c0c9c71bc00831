"""The cached Lark parser, and parsing that recovers to report every syntax error.

`get_parser()` builds the LALR parser from `grammar/constitution.lark` once
per process. `parse_text` parses a whole file; when it meets an error it
records it, salvages the complete declarations before the broken one, and
resumes at the next top-level declaration keyword, so one typo does not hide
the next. Resuming lexes a view of the same text from the resume point with
the line counter placed there, which keeps every line and column of later
tokens exact without copying the file per error.
"""

from __future__ import annotations

import bisect
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import LexerState, LexerThread, LineCounter
from lark.utils import TextSlice

from cai_lang.resources import grammar_file
from cai_lang.syntax.lower import Lowerer

TOP_LEVEL_KEYWORDS = (
    "constitution",
    "import",
    "context",
    "action",
    "principle",
    "rule",
    "priority",
    "conflict",
    "deployment",
    "test",
)

# Strings and comments first so that braces and keywords inside them are skipped.
_SCAN = re.compile(r'"""(?:.|\n)*?"""|"(?:\\.|[^"\\\n])*"?|#[^\n]*|[{}]|[A-Za-z_][A-Za-z0-9_]*')


@lru_cache(maxsize=1)
def get_parser() -> Lark:
    """The parser, with the IR lowering embedded: `parse` returns a list of IR items."""

    return Lark.open(
        str(grammar_file()),
        parser="lalr",
        lexer="basic",
        # The grammar is collision-free (tests build it with strict=True);
        # checking that at every start would import interegular for nothing.
        keep_all_tokens=True,  # spans come from the first and last token of each rule
        maybe_placeholders=False,
        transformer=Lowerer(),
        # Building the LALR tables takes ~0.5 s; Lark caches them in the temp
        # folder under a hash of the grammar and options, and rebuilds (and
        # logs) if the cache cannot be read or written.
        cache=True,
    )


_PARSER_LOCK = threading.Lock()


@contextmanager
def lowering_parser() -> Iterator:
    """Hold the shared parser for one file; yields its lowering transformer to reset."""
    parser = get_parser()
    with _PARSER_LOCK:
        yield parser.options.transformer


@lru_cache(maxsize=1)
def terminal_patterns() -> dict[str, str]:
    """Terminal name -> the literal text of keyword and punctuation terminals."""
    return {t.name: t.pattern.value for t in get_parser().terminals if t.pattern.type == "str"}


@dataclass
class ParseResult:
    trees: list[list] = field(default_factory=list)  # lowered items of each parsed stretch
    errors: list[UnexpectedInput] = field(default_factory=list)


def scan_comments(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of every comment, skipping `#` inside strings."""
    return [m.span() for m in _SCAN.finditer(text) if m.group().startswith("#")]


def declaration_starts(text: str) -> list[int]:
    """Offsets where a top-level declaration may start, for error recovery.

    A declaration keyword counts when braces are balanced before it, or when it
    begins a line (so recovery still works after an unclosed brace).
    """
    starts = []
    depth = 0
    previous = ""
    for match in _SCAN.finditer(text):
        word = match.group()
        if word.startswith("#"):
            continue
        if word == "{":
            depth += 1
        elif word == "}":
            depth = max(0, depth - 1)
        elif word in TOP_LEVEL_KEYWORDS and previous not in TOP_LEVEL_KEYWORDS:
            # (`rule rule {` is a keyword misused as a name, not two declarations.)
            at_line_start = match.start() == 0 or text[match.start() - 1] == "\n"
            if depth == 0 or at_line_start:
                depth = 0
                starts.append(match.start())
        previous = word
    return starts


def _line_starts(text: str) -> list[int]:
    starts = [0]
    found = text.find("\n")
    while found >= 0:
        starts.append(found + 1)
        found = text.find("\n", found + 1)
    return starts


def _lexer_at(text: str, start: int, end: int, line_starts: list[int]) -> LexerThread:
    """A lexer over text[start:end] whose tokens carry the positions of the whole file.

    The slice is a view (Lark's `TextSlice`), and the line counter is placed at
    `start` from the line index, so resuming costs nothing for the text before.
    """
    counter = LineCounter("\n")
    line = bisect.bisect_right(line_starts, start) - 1
    counter.char_pos = start
    counter.line = line + 1
    counter.line_start_pos = line_starts[line]
    counter.column = start - line_starts[line] + 1
    return LexerThread(get_parser().parser.lexer, LexerState(TextSlice(text, start, end), counter))


def error_offset(error: UnexpectedInput, text: str) -> int:
    if isinstance(error, UnexpectedToken):
        if error.token.type == "$END" or error.token.start_pos is None:
            return len(text)
        return error.token.start_pos
    if isinstance(error, UnexpectedCharacters):
        return error.pos_in_stream
    return len(text)


# Errors past this many in one file keep Lark's raw expected set: working out
# the exact one simulates every candidate token, which only pays for errors shown.
EXACT_EXPECTED_LIMIT = 200

# Plausible text for terminals that have no literal, when simulating them.
_SAMPLE = {"NAME": "x", "STRING": '"x"', "LONG_STRING": '"""x"""', "NUMBER": "1"}


def _accepted(interactive, at: Token) -> set[str] | None:
    """The terminals the parser really accepts at the error, reductions included.

    LALR merges states, so the table's expected set can name tokens of another
    context (`prompt` after a principle's `revision`); feeding each candidate
    to a copy of the parser weeds those out. Feeding runs the embedded lowering,
    so its diagnostics are restored afterwards.
    """
    lowerer = get_parser().options.transformer
    kept = len(lowerer.diagnostics)
    patterns = terminal_patterns()
    accepted = set()
    try:
        for name in interactive.choices():
            if not name.isupper():
                continue
            cursor = interactive.copy(deepcopy_values=False)
            value = "" if name == "$END" else patterns.get(name, _SAMPLE.get(name, "x"))
            try:
                cursor.feed_token(Token.new_borrow_pos(name, value, at))
            except Exception:  # noqa: BLE001 - any failure means "not accepted here"
                continue
            accepted.add(name)
    finally:
        del lowerer.diagnostics[kept:]
    return accepted or None


def _open_brace(interactive) -> tuple[Token, str] | None:
    """The innermost `{` still open at the error, and what opened it (`principle p`)."""
    values = interactive.parser_state.value_stack
    for index in range(len(values) - 1, -1, -1):
        value = values[index]
        if isinstance(value, Token) and value == "{" and value.type != "STRING":
            conflict = next((k for k in range(index - 1, max(-1, index - 5), -1) if isinstance(values[k], Token) and values[k] == "conflict"), None)
            if conflict is not None:  # `conflict a vs b {`: name the conflict by its two sides
                return value, f"conflict `{' '.join(str(v) for v in values[conflict + 1 : index])}`"
            words = [v for v in values[max(0, index - 3) : index] if isinstance(v, Token)]
            keyword = next((str(w) for w in reversed(words) if w.type != "NAME" and str(w).isidentifier()), "")
            name = next((str(w) for w in reversed(words) if w.type == "NAME"), "")
            return value, f"{keyword} `{name}`" if keyword and name else keyword or "block"
    return None


def _parse_stretch(
    text: str, start: int, end: int, line_starts: list[int], exact: bool = False
) -> tuple[list | None, UnexpectedInput | None]:
    try:
        return get_parser().parser.parser.parse(_lexer_at(text, start, end, line_starts), "start"), None
    except UnexpectedInput as exc:
        interactive = getattr(exc, "interactive_parser", None)
        exc.accepted = None
        exc.open_brace = None
        if interactive is not None and isinstance(exc, UnexpectedToken):
            exc.open_brace = _open_brace(interactive)
            if exact:
                exc.accepted = _accepted(interactive, exc.token)
        # The failed parser state is not needed (and would keep the parse stacks alive).
        exc.interactive_parser = None
        return None, exc


def parse_text(text: str) -> ParseResult:
    """Parse `text`, recovering at declaration keywords; linear in the text's size.

    Each stretch is parsed as a view into the one text (no copies): the file
    from its start, and after each error the declarations completed before the
    broken one (salvaged) and the rest from the next declaration keyword. Every
    character is therefore parsed at most about twice however many errors there are.
    """
    result = ParseResult()
    line_starts = _line_starts(text)
    tree, error = _parse_stretch(text, 0, len(text), line_starts, exact=True)
    if error is None:
        result.trees.append(tree)
        return result

    starts = declaration_starts(text)
    begin = 0
    while error is not None:
        result.errors.append(error)
        offset = error_offset(error, text)
        # The broken declaration starts at the last boundary before the error
        # token; when the error token is itself a declaration keyword, the
        # broken declaration is the one it interrupted.
        index = bisect.bisect_left(starts, offset) - 1
        broken = starts[index] if index >= 0 and starts[index] >= begin else begin
        if broken > begin:
            salvage, salvage_error = _parse_stretch(text, begin, broken, line_starts)
            if salvage_error is None:
                result.trees.append(salvage)
        following = bisect.bisect_left(starts, max(offset, broken + 1))
        if following >= len(starts):
            break
        begin = starts[following]
        exact = len(result.errors) < EXACT_EXPECTED_LIMIT
        tree, error = _parse_stretch(text, begin, len(text), line_starts, exact=exact)
        if error is None:
            result.trees.append(tree)
    return result
