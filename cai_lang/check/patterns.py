"""The W309 and W313 lints on `detect regex` patterns.

W309: shapes that backtrack badly, and patterns that match everything. A
detector runs on model output, under a time limit (`cai_lang.detector`),
and the same pattern is often pasted into other tools that backtrack
without one. So a repetition nested inside another repetition (`(a+)+`, `(\\w+\\s?)*`),
which can take time exponential in the text on a failing match, is flagged
where it is written. A pattern that can match the empty string everywhere
(`""`, `x*`) flags every response, which is never what a rule means.
The pattern is read with Python's own regex parser, so what is flagged is
exactly what `re` would compile.

W313: constructs that caic's one detector semantics (ASCII classes, Python's
`$`) reads differently from RE2, Go, JavaScript or PCRE: `$` without `(?m)`
and `(?i)` with non-ASCII letters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.ir.program import Program

try:  # Python 3.11+
    from re import _constants as _sre_constants
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(_sre_constants, "POSSESSIVE_REPEAT")} if hasattr(_sre_constants, "POSSESSIVE_REPEAT") else set()
_SAMPLES = ("", "x", "The response.\n", "0")


def _repeats_more_than_once(argument) -> bool:
    _, high, _ = argument
    return high is _sre_constants.MAXREPEAT or high > 1


def _children(op, argument) -> Iterator:
    """The sub-patterns of one parsed item."""
    if op in _REPEATS:
        yield argument[2]
    elif op is _sre_constants.SUBPATTERN:
        yield argument[-1]
    elif op is _sre_constants.BRANCH:
        yield from argument[1]
    elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
        yield argument[1]
    elif op is getattr(_sre_constants, "ATOMIC_GROUP", None):
        yield argument


def _has_repeat(pattern) -> bool:
    for op, argument in pattern:
        if op in _REPEATS and _repeats_more_than_once(argument):
            return True
        if any(_has_repeat(child) for child in _children(op, argument)):
            return True
    return False


def nested_quantifier(pattern) -> bool:
    """Does an unbounded repetition contain another repetition?

    A bounded outer count (`(?:[ -]?\\d{4}){3}`) keeps backtracking polynomial,
    so only `*`, `+` and `{n,}` around a repeating part are flagged.
    """
    for op, argument in pattern:
        if op in _REPEATS and argument[1] is _sre_constants.MAXREPEAT and _has_repeat(argument[2]):
            return True
        if any(nested_quantifier(child) for child in _children(op, argument)):
            return True
    return False


def pattern_problem(source: str) -> str | None:
    """Why a detector pattern deserves W309, or None (also None when it does not compile: E107)."""
    try:
        compiled = re.compile(source)
        parsed = _sre_parse.parse(source)
    except (re.error, RecursionError, OverflowError):
        return None
    if all(compiled.search(sample) is not None for sample in _SAMPLES):
        return "matches every text: it can match the empty string anywhere" if source else "is empty, so it matches every text"
    if nested_quantifier(parsed):
        return "repeats a group that itself repeats (like `(a+)+`), which can take exponential time on text that does not match"
    return None


def _scan(source: str) -> tuple[bool, bool]:
    """(a `$` outside a character class, an inline `i` flag) in `source`, escapes and classes stepped over."""
    dollar = ignore_case = False
    index, in_class = 0, False
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if source[index + 1 : index + 2] == "^":
                index += 1
            if source[index + 1 : index + 2] == "]":
                index += 1  # a leading `]` is a member
        elif char == "$":
            dollar = True
        elif source.startswith("(?", index):
            flags = re.match(r"\(\?([a-zA-Z]*)(?:-[a-zA-Z]*)?[:)]", source[index:])
            ignore_case = ignore_case or bool(flags and "i" in flags.group(1))
        index += 1
    return dollar, ignore_case


def portability_problem(source: str) -> str | None:
    """Why a detector pattern deserves W313 (another engine would read it differently), or None."""
    dollar, ignore_case = _scan(source)
    multiline = re.match(r"\(\?[a-zA-Z]*m", source) is not None
    if dollar and not multiline:
        return "uses `$`, which here also matches before a final newline and in RE2, Go and JavaScript only at the very end; write `\\Z` for the very end"
    if ignore_case and any(ch.isalpha() and not ch.isascii() for ch in source):
        return "uses `(?i)` with non-ASCII letters, which here match only their own case and in other engines both; list both cases"
    return None


def _rules(module: ir.Module) -> Iterator[ir.Rule]:
    for declaration in module.declarations:
        if isinstance(declaration, ir.Rule):
            yield declaration
        elif isinstance(declaration, ir.Deployment):
            yield from (item for item in declaration.items if isinstance(item, ir.Rule))


def check_patterns(program: Program) -> list[Diagnostic]:
    found = []
    for module in program.modules.values():
        for rule in _rules(module):
            if rule.detect is None:
                continue
            problem = pattern_problem(rule.detect.value)
            if problem is not None:
                found.append(msg.RISKY_DETECTOR.at(rule.detect.span, name=rule.name.value, problem=problem))
            unportable = portability_problem(rule.detect.value)
            if unportable is not None:
                found.append(msg.UNPORTABLE_DETECTOR.at(rule.detect.span, name=rule.name.value, problem=unportable))
    return found
