"""Positions as the editor counts them, and file URIs.

The checker counts in characters (code points) with 1-based lines and
columns; the Language Server Protocol counts 0-based lines and columns in
code units of the encoding agreed at start-up: UTF-16 unless the client
offers UTF-8 or UTF-32. `LineIndex` converts between the two for one text;
only `\\n` ends a line, as in `cai_lang.span.SourceFile`, so a `\\r` before it
is an ordinary (last) character of the line. `path_of` and `uri_of` map
between `file:` URIs and the resolved paths the checker keys files by.
"""

from __future__ import annotations

import bisect
from pathlib import Path

from lsprotocol import types
from pygls import uris

from cai_lang.span import SourceFile, Span

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _units(char: str, encoding: str) -> int:
    if encoding == UTF32:
        return 1
    if encoding == UTF8:
        return len(char.encode("utf-8"))
    return 2 if ord(char) > 0xFFFF else 1


class LineIndex:
    """Offsets of one text <-> LSP positions in one encoding."""

    def __init__(self, text: str, encoding: str = UTF16):
        self.text = text
        self.encoding = str(encoding or UTF16)
        # str.find runs in C: building the index of a 5 MB document takes milliseconds.
        starts = [0]
        found = text.find("\n")
        while found >= 0:
            starts.append(found + 1)
            found = text.find("\n", found + 1)
        self.starts = starts

    def _line_end(self, line: int) -> int:
        return self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)

    def position(self, offset: int) -> types.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        segment = self.text[self.starts[line] : offset]
        if self.encoding == UTF32 or segment.isascii():
            return types.Position(line=line, character=len(segment))
        return types.Position(line=line, character=sum(_units(c, self.encoding) for c in segment))

    def offset(self, position: types.Position) -> int:
        if position.line >= len(self.starts):
            return len(self.text)
        start = self.starts[position.line]
        end = self._line_end(position.line)
        counted = 0
        for index in range(start, end):
            if counted >= position.character:
                return index
            counted += _units(self.text[index], self.encoding)
        return end

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def whole(self) -> types.Range:
        return self.range(0, len(self.text))


def span_offsets(span: Span, source: SourceFile) -> tuple[int, int]:
    """A span's character offsets, from its line and column (which every span has)."""
    start = source.offset(span.line, span.column)
    end = source.offset(span.end_line, span.end_column)
    return start, max(start, end)


def span_range(span: Span, source: SourceFile, encoding: str, lines: LineIndex | None = None) -> types.Range:
    """The LSP range of a span; pass the text's `lines` when converting many spans of one text."""
    lines = lines if lines is not None else LineIndex(source.text, encoding)
    return lines.range(*span_offsets(span, source))


def path_of(uri: str) -> str | None:
    """The resolved file path of a `file:` URI (None for other schemes)."""
    path = uris.to_fs_path(uri)
    if path is None:
        return None
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def uri_of(path: str) -> str:
    return uris.from_fs_path(path) or Path(path).as_uri()
