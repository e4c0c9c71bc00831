"""Syntax errors in the language's own words.

Lark reports what it expected as a set of terminal names (`PRINCIPLE`,
`RBRACE`, `$END`). Users should never see those: this module turns the set
into phrases such as "a principle field such as `critique` or `weight`",
names the token that was found, and adds a help line for the common
mistakes (a colon after a field, a reserved keyword used as a name).
"""

from __future__ import annotations

import difflib
import re

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic, Related
from cai_lang.span import SourceFile
from cai_lang.syntax.parser import TOP_LEVEL_KEYWORDS, error_offset, terminal_patterns

MAX_SHOWN_TOKEN = 40  # characters of a found name or number quoted in a message

# Groups of keywords that, when all expected together, read better as one phrase.
# Ordered: the first group that the expected set covers is used.
_GROUPS: list[tuple[frozenset[str], str]] = [
    (
        frozenset({"critique", "revision", "compare", "weight", "tags", "applies", "example", "comparison", "description"}),
        "a principle field such as `critique` or `weight`",
    ),
    (
        frozenset({"assume", "weight", "disable", "enable", "principle", "rule", "priority", "conflict"}),
        "a deployment item such as `assume`, `disable` or `principle`",
    ),
    (
        frozenset({"constitution", "import", "context", "action", "principle", "rule", "priority", "conflict", "deployment"}),
        "a declaration such as `principle`, `rule` or `context`",
    ),
    (frozenset({"prompt", "response", "critique", "revision"}), "an example field (`prompt`, `response`, `critique` or `revision`)"),
    (frozenset({"never", "always", "detect"}), "a rule field (`never`, `always` or `detect regex`)"),
    (frozenset({"version", "description"}), "a header field (`version` or `description`)"),
    (frozenset({"prefer"}), "a clause `prefer X when CONDITION` or `prefer X otherwise`"),
    (frozenset({"==", "!=", "<", "<=", ">", ">="}), "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)"),
    (frozenset({"true", "false", "not", "("}), "a condition"),
]

_NAMED = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "NUMBER": "a number",
    "$END": "the end of the file",
}

_FIELD_KEYWORDS = {
    "critique", "revision", "compare", "weight", "tags", "description", "version",
    "prompt", "response", "applies", "detect",
}


def _expected_phrases(expected: set[str]) -> list[str]:
    patterns = terminal_patterns()
    words = {patterns.get(name, name) for name in expected}
    phrases: list[str] = []
    for group, phrase in _GROUPS:
        if group <= words:
            phrases.append(phrase)
            words -= group
    # A string is one thing to the user, whichever quotes it uses.
    if "STRING" in words and "LONG_STRING" in words:
        words.discard("LONG_STRING")
    for word in sorted(words, key=lambda w: (w not in _NAMED, w)):
        phrases.append(_NAMED.get(word, f"`{word}`"))
    return phrases


def _join(phrases: list[str]) -> str:
    if not phrases:
        return "something else"
    if len(phrases) == 1:
        return phrases[0]
    # A comma before the last "or" keeps "a field such as `x` or `y`, or `}`" readable.
    comma = "," if len(phrases) > 2 or " or " in phrases[0] else ""
    return ", ".join(phrases[:-1]) + f"{comma} or " + phrases[-1]


def _describe_token(token) -> str:
    if token.type == "$END":
        return "the end of the file"
    if token.type == "NAME":
        return f"name `{_short(str(token))}`"
    if token.type in ("STRING", "LONG_STRING"):
        return "a string"
    if token.type == "NUMBER":
        return f"number `{_short(str(token))}`"
    value = str(token)
    if value.isidentifier():
        return f"keyword `{value}`"
    return f"`{value}`"


def _short(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_TOKEN else text[: MAX_SHOWN_TOKEN - 3] + "..."


def _expected(error: UnexpectedToken) -> set[str]:
    """What the parser really accepts (when worked out), else the table's set."""
    accepted = getattr(error, "accepted", None)
    return set(accepted) if accepted else set(error.expected or ())


def _did_you_mean(error: UnexpectedToken) -> str | None:
    """`principel` -> `principle`: a misspelt keyword among the ones accepted here."""
    if error.token.type != "NAME":
        return None
    patterns = terminal_patterns()
    keywords = sorted({patterns.get(name, "") for name in _expected(error)} - {""})
    keywords = [word for word in keywords if word.isidentifier()]
    found = difflib.get_close_matches(str(error.token), keywords, n=1, cutoff=0.7)
    return f"did you mean `{found[0]}`?" if found else None


def _help_for(error: UnexpectedToken, source: SourceFile) -> str | None:
    token = error.token
    expected = _expected(error)
    suggestion = _did_you_mean(error)
    if suggestion:
        return suggestion
    opened = getattr(error, "open_brace", None)
    if str(token) in TOP_LEVEL_KEYWORDS and opened is not None and not _used_as_name(token, source):
        # `action share "..."` inside `context { }`: a declaration in the wrong
        # place, not a keyword misused as a name.
        article = "an" if str(token)[0] in "aeiou" else "a"
        return f"{article} `{token}` declaration cannot stand inside {opened[1]}: close its `{{` first"
    if token.type != "NAME" and "NAME" in expected and str(token).isidentifier():
        return f"`{token}` is a reserved keyword and cannot be used as a name"
    if str(token) == ":":
        before = source.text[: token.start_pos].rstrip().rsplit(None, 1)
        if before and before[-1] in _FIELD_KEYWORDS:
            return f"fields take no colon: write `{before[-1]} ...` directly"
    if str(token) in (",", ";"):
        return "declarations and fields need no separators"
    if token.type == "$END":
        return "a `{` may be missing its closing `}`"
    return None


def _used_as_name(token, source: SourceFile) -> bool:
    """`action: bool` uses the keyword as a variable name; `action share` declares."""
    rest = source.text[token.end_pos : token.end_pos + 200].lstrip(" \t")
    return rest.startswith((":", "|", ",", "]", ")", "."))


def _interrupts(token, source: SourceFile) -> bool:
    """The end of the file, or a declaration keyword that begins a line."""
    if token.type == "$END":
        return True
    start = token.start_pos or 0
    return str(token) in TOP_LEVEL_KEYWORDS and (start == 0 or source.text[start - 1] == "\n")


def _unclosed_brace(error: UnexpectedToken, source: SourceFile, offset: int) -> Diagnostic | None:
    """A block left open is reported at its `{`, with the place the parser gave up as a note."""
    opened = getattr(error, "open_brace", None)
    if opened is None or not _interrupts(error.token, source):
        return None
    brace, opener = opened
    found = _describe_token(error.token)
    return msg.UNCLOSED_BRACE.at(
        source.span(brace.start_pos, brace.end_pos),
        opener=opener,
        found=found,
        related=[Related(span=source.span(offset, offset if error.token.type == "$END" else error.token.end_pos), message=f"the parser met {found} here")],
        help=f"add the closing `}}` of {opener} before this point",
    )


_DECLARATION_WORDS = (*TOP_LEVEL_KEYWORDS, "example", "comparison")


def _misread_mark(error: UnexpectedToken, source: SourceFile, offset: int) -> Diagnostic | None:
    """A name where a declaration belongs (`principel p`) parses as the start of `hard rule`
    (version 1.2), so the parser then asks for `rule`: report the name itself, as a
    declaration that was expected, with the keyword it most likely misspells."""
    if _expected(error) != {"RULE"}:
        return None
    before = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", source.text[:offset])
    if before is None or before.group(1) == "hard":
        return None
    word = before.group(1)
    patterns = terminal_patterns()
    expected = {name for name, text in patterns.items() if text in _DECLARATION_WORDS} | {"$END"}
    close = difflib.get_close_matches(word, [*_DECLARATION_WORDS, "hard"], n=1, cutoff=0.7)
    return msg.UNEXPECTED_TOKEN.at(
        source.span(before.start(1), before.end(1)),
        help=f"did you mean `{close[0]}`?" if close else None,
        expected=_join(_expected_phrases(expected)),
        found=f"name `{_short(word)}`",
    )


def syntax_diagnostic(error: UnexpectedInput, source: SourceFile) -> Diagnostic:
    offset = error_offset(error, source.text)
    if isinstance(error, UnexpectedCharacters):
        char = source.text[offset : offset + 1]
        if char == '"':
            triple = source.text.startswith('"""', offset)
            line_end = source.text.find("\n", offset)
            end = len(source.text) if triple or line_end < 0 else line_end
            return msg.UNTERMINATED_STRING.at(
                source.span(offset, max(end, offset + 1)),
                help='close the string with `"""`' if triple else 'close the string on the same line, or use `"""` for text that spans lines',
                quotes='triple-quoted ' if triple else "",
            )
        allowed = set(error.allowed or ())
        return msg.UNEXPECTED_CHARACTER.at(
            source.span(offset, offset + 1),
            char=char.replace("\n", "\\n"),
            expected=_join(_expected_phrases(allowed)),
        )
    assert isinstance(error, UnexpectedToken)
    misread = _misread_mark(error, source, offset)
    if misread is not None:
        return misread
    unclosed = _unclosed_brace(error, source, offset)
    if unclosed is not None:
        return unclosed
    token = error.token
    end = offset if token.type == "$END" else (token.end_pos or offset + 1)
    return msg.UNEXPECTED_TOKEN.at(
        source.span(offset, end),
        help=_help_for(error, source),
        expected=_join(_expected_phrases(_expected(error))),
        found=_describe_token(token),
    )
