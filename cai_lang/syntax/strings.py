"""String literals: escape decoding and the dedenting of triple-quoted text.

Ordinary strings accept the escapes `\\"`, `\\\\`, `\\n`, `\\t` and `\\u{XXXX}`;
anything else after a backslash is an error (E002) located on the escape
itself. The pattern of a `detect regex` is taken raw, like a Python r-string,
because regular expressions are full of backslashes (`\\b`, `\\d`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_UNICODE_ESCAPE = re.compile(r"u\{([0-9A-Fa-f]{1,6})\}")


@dataclass(frozen=True)
class EscapeError:
    start: int  # offset inside the literal's body
    end: int
    message: str


def decode_escapes(body: str) -> tuple[str, list[EscapeError]]:
    if "\\" not in body:
        return body, []
    out: list[str] = []
    errors: list[EscapeError] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        following = body[index + 1 : index + 2]
        if following in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[following])
            index += 2
            continue
        match = _UNICODE_ESCAPE.match(body, index + 1)
        if match:
            code_point = int(match.group(1), 16)
            if code_point <= 0x10FFFF and not 0xD800 <= code_point <= 0xDFFF:
                out.append(chr(code_point))
            else:
                errors.append(EscapeError(index, match.end(), f"`\\u{{{match.group(1)}}}` is not a Unicode scalar value"))
            index = match.end()
            continue
        shown = "\\" + following if following else "\\"
        errors.append(EscapeError(index, index + 1 + len(following), f"unknown escape `{shown}`"))
        out.append(following)
        index += 2
    return "".join(out), errors


def dedent_block(body: str) -> str:
    """Drop a blank first and last line, then the whitespace all other lines share."""
    lines = body.split("\n")
    if lines and not lines[0].strip():
        lines = lines[1:]
    if lines and not lines[-1].strip():
        lines = lines[:-1]
    indents = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] if line.strip() else "" for line in lines)


def literal_body(token_text: str) -> tuple[str, int, bool]:
    """The text between the quotes, its offset in the token, and whether it was triple-quoted."""
    if token_text.startswith('"""'):
        return token_text[3:-3], 3, True
    return token_text[1:-1], 1, False


def decode_literal(token_text: str, raw: bool = False) -> tuple[str, list[EscapeError]]:
    """Decode a string token; error offsets are relative to the start of the token."""
    body, offset, triple = literal_body(token_text)
    if raw:
        return (dedent_block(body) if triple else body), []
    # Escapes are located on the text as written, then decoded after dedenting
    # so that an escaped newline cannot change the indentation computation.
    _, errors = decode_escapes(body)
    errors = [EscapeError(e.start + offset, e.end + offset, e.message) for e in errors]
    value, _ = decode_escapes(dedent_block(body) if triple else body)
    return value, errors


def encode_literal(value: str, indent: str = "", *, raw: bool = False) -> str:
    """The canonical source form of a string value; decoding it gives `value` back.

    A value without a newline is written `"..."`. One with newlines becomes a
    triple-quoted block whose lines sit four spaces deeper than `indent` and
    whose closing quotes sit at `indent`, so the dedent rule gives the value
    back; values a block cannot carry faithfully (a line with trailing spaces,
    or indentation that every line shares) stay on one line with `\n`.
    With `raw` (a `detect regex` pattern, where a backslash is not an escape)
    nothing can be escaped, and a value no literal carries raises ValueError.
    """
    if raw:
        return _encode_raw(value, indent)
    lines = value.split("\n")
    if len(lines) > 1 and _fits_block(lines):
        return _block([_escape(line, block=True) for line in lines], indent)
    return '"' + _escape(value, block=False) + '"'


_ONE_LINE = re.compile(r'"(?!"")(?:\\.|[^"\\\n])*"')


def _escape(text: str, *, block: bool) -> str:
    out = ""
    for char in text:
        if char == "\\":
            out += "\\\\"
        elif char == "\t":
            out += "\\t"
        elif char == "\n":
            out += "\\n"
        elif char == '"':
            # On one line every quote is escaped; in a block only a quote that
            # would make a run of three, the one thing that ends a block early.
            out += '\\"' if not block or out.endswith('""') else '"'
        elif char != " " and not char.isprintable():
            out += f"\\u{{{ord(char):04X}}}"
        else:
            out += char
    return out


def _fits_block(lines: list[str]) -> bool:
    if any(line != line.rstrip(" ") for line in lines):
        return False
    written = [line for line in lines if line]
    # The dedent rule would remove indentation that every line shares; a
    # value of nothing but newlines reads better as `"\n\n"`.
    return bool(written) and any(not line.startswith(" ") for line in written)


def _block(lines: list[str], indent: str) -> str:
    inner = indent + "    "
    body = "\n".join(inner + line if line else "" for line in lines)
    return '"""\n' + body + "\n" + indent + '"""'


def _encode_raw(value: str, indent: str) -> str:
    if "\n" not in value and _ONE_LINE.fullmatch('"' + value + '"'):
        return '"' + value + '"'
    if '"""' not in value:
        literal = _block(value.split("\n"), indent)
        if dedent_block(literal[3:-3]) == value:
            return literal
    raise ValueError("no string literal carries this regex pattern unchanged")
