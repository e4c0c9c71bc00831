"""W312: characters a reviewer cannot see, anywhere in a constitution's text.

Bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
U+061C) reorder how text is displayed, so a principle's wording, a name or a
detector regex can read one way in a review and mean another to the model or
the engine (the "Trojan Source" attack). Zero-width and other invisible
characters (U+200B–U+200D, U+2060–U+2064, U+FEFF past the start of the file,
U+00AD, U+180E) make two names or patterns that look the same differ. Every
run of such characters in a file, in strings, regexes, comments or anywhere
else, is a warning on by default, with the characters shown escaped
(`\\u202e`). A byte order mark at the start of a file is dropped by the
loader and is not reported.
"""

from __future__ import annotations

import re

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir.program import Program

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e"
_HIDDEN = re.compile(f"[{BIDI}{INVISIBLE}]+")


def escaped(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


def _what(run: str) -> str:
    kinds = []
    if any(ch in BIDI for ch in run):
        kinds.append("bidirectional control")
    if any(ch in INVISIBLE for ch in run):
        kinds.append("invisible")
    return " and ".join(kinds)


def check_hidden_text(program: Program) -> list[Diagnostic]:
    found = []
    for source in program.sources.values():
        for match in _HIDDEN.finditer(source.text):
            run = match.group(0)
            found.append(msg.HIDDEN_TEXT.at(source.span(match.start(), match.end()), chars=escaped(run), kind=_what(run)))
    return found
