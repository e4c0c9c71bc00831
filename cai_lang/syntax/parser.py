"""The cached Lark parser, and parsing that recovers to report every syntax error.

`get_parser()` builds the LALR parser from `grammar/constitution.lark` once
per process. `parse_text` parses a whole file; when it meets an error it
records it, salvages the complete declarations before the broken one, and
resumes at the next top-level declaration keyword, so one typo does not hide
the next. Resuming works by blanking (not deleting) the text already dealt
with, which keeps every line and column of later tokens exact.
"""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

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


def _blank(text: str, start: int, end: int) -> str:
    """Keep text[start:end]; replace everything else by spaces, keeping newlines."""
    head = re.sub(r"[^\n]", " ", text[:start])
    tail = re.sub(r"[^\n]", " ", text[end:])
    return head + text[start:end] + tail


def error_offset(error: UnexpectedInput, text: str) -> int:
    if isinstance(error, UnexpectedToken):
        if error.token.type == "$END" or error.token.start_pos is None:
            return len(text)
        return error.token.start_pos
    if isinstance(error, UnexpectedCharacters):
        return error.pos_in_stream
    return len(text)


def _parse_once(text: str) -> tuple[list | None, UnexpectedInput | None]:
    try:
        return get_parser().parse(text), None
    except UnexpectedInput as exc:
        return None, exc


def parse_text(text: str) -> ParseResult:
    result = ParseResult()
    tree, error = _parse_once(text)
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
        broken = max((s for s in starts if begin <= s < offset), default=begin)
        if broken > begin:
            salvage, salvage_error = _parse_once(_blank(text, begin, broken))
            if salvage_error is None:
                result.trees.append(salvage)
        resume = min((s for s in starts if s >= offset and s > broken), default=None)
        if resume is None:
            break
        begin = resume
        tree, error = _parse_once(_blank(text, begin, len(text)))
        if error is None:
            result.trees.append(tree)
    return result
