"""Formatting a `.const` buffer: parse, refuse what cannot be printed faithfully, print, verify.

`caic fmt` and the language server's formatting request both come here, so
they always produce the same text. A file is left alone when it has syntax
errors, or when the parser had to drop part of it (a field given twice, a
second `constitution` header, a field that is not a field of its block,
E107): printing the IR would silently delete that text, and the file would
then check clean. As a last guard, the printed text must hold the same names
and string values as the original (`words`), or nothing is changed. Every result is checked before it is handed out: it must parse to the
same declarations and keep every comment, otherwise `FormatterBug` is raised
and the caller keeps the original. This module does not import pygls.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cai_lang.diagnostics.model import Diagnostic
from cai_lang.span import SourceFile
from cai_lang.syntax.module import parse_module
from cai_lang.syntax.printer import ir_shape, print_module

_SYNTAX_CODES = frozenset({"E001", "E002"})

# Findings of the parser that mean the IR lacks text the file has.
_LOSSY = frozenset({"REPEATED_FIELD", "DUPLICATE", "INVALID_FIELD"})


class FormatterBug(RuntimeError):
    """The printed text would not mean what the original means; nothing was changed."""


@dataclass
class Formatted:
    """The outcome for one buffer: `text` is None when it was not formatted."""

    original: str
    text: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: SourceFile | None = None

    @property
    def changed(self) -> bool:
        return self.text is not None and self.text != self.original


def blocking(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The parser findings that stop a file from being formatted: syntax errors and text the IR lacks."""
    return [d for d in diagnostics if d.code in _SYNTAX_CODES or (d.is_error and d.kind in _LOSSY)]


def format_text(text: str, path: str = "<buffer>", display: str | None = None) -> Formatted:
    """Format one buffer. Raises FormatterBug rather than return text that changes meaning."""
    source = SourceFile(path, text, display if display is not None else path)
    module, diagnostics = parse_module(source, path)
    stopping = blocking(diagnostics)
    if stopping:
        return Formatted(original=text, text=None, diagnostics=stopping, source=source)
    printed = print_module(module, text)
    _verify(module, text, printed, path)
    return Formatted(original=text, text=printed, source=source)


def words(text: str) -> Counter:
    """The multiset of names and string values (decoded) in `text`: what formatting must never change."""
    from cai_lang.syntax.parser import get_parser
    from cai_lang.syntax.strings import decode_literal

    found: Counter = Counter()
    previous = None
    for token in get_parser().lex(text):
        if token.type == "NAME":
            found["name", str(token)] += 1
        elif token.type in ("STRING", "LONG_STRING"):
            found["string", decode_literal(str(token), raw=previous == "REGEX")[0]] += 1
        previous = token.type
    return found


def _verify(module, original: str, printed: str, path: str) -> None:
    again, diagnostics = parse_module(SourceFile(path, printed, path), path)
    if blocking(diagnostics):
        raise FormatterBug(f"formatting {path} produced text that does not parse: {blocking(diagnostics)[0].message}")
    if ir_shape(again) != ir_shape(module):
        raise FormatterBug(f"formatting {path} changed its declarations")
    if words(printed) != words(original):
        raise FormatterBug(f"formatting {path} would drop or change a name or a string")
    before = Counter(c.text.rstrip() for c in module.comments)
    after = Counter(c.text.rstrip() for c in again.comments)
    if before != after:
        raise FormatterBug(f"formatting {path} lost or changed a comment")
