"""Source files and spans: where a piece of a `.const` file came from.

A `Span` is a half-open stretch of one file, kept both as 1-based
line/column pairs (what people and editors read) and as character offsets
(what the formatter and the language server slice with). `SourceFile` owns
the text and a line index that converts between the two. This module has no
dependencies so that every other layer can use it.
"""

from __future__ import annotations

import bisect
import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A stretch of source: lines and columns are 1-based, `end_column` exclusive."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def cover(self, other: "Span") -> "Span":
        """The smallest span holding both (same file)."""
        first, last = (self, other) if self.start <= other.start else (other, self)
        end = last if last.end >= first.end else first
        return Span(
            file=self.file,
            line=first.line,
            column=first.column,
            end_line=end.end_line,
            end_column=end.end_column,
            start=first.start,
            end=end.end,
        )


class SourceFile:
    """The text of one file plus an index from offsets to lines."""

    def __init__(self, path: str | Path, text: str, display: str | None = None):
        self.path = Path(path)
        self.text = text
        # The name diagnostics print: what the user typed, not an absolute path.
        self.display = display if display is not None else str(path)
        self._line_starts = [0]
        found = text.find("\n")
        while found >= 0:
            self._line_starts.append(found + 1)
            found = text.find("\n", found + 1)

    @classmethod
    def read(cls, path: str | Path, display: str | None = None) -> "SourceFile":
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8-sig")  # a byte order mark is not part of the text
        return cls(path, text, display)

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def offset(self, line: int, column: int) -> int:
        """Character offset of a 1-based (line, column)."""
        line = max(1, min(line, len(self._line_starts)))
        return min(self._line_starts[line - 1] + column - 1, len(self.text))

    def line_text(self, line: int) -> str:
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    def span(self, start: int, end: int) -> Span:
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return Span(
            file=self.display,
            line=line,
            column=column,
            end_line=end_line,
            end_column=end_column,
            start=start,
            end=end,
        )

    def whole(self) -> Span:
        return self.span(0, len(self.text))


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a burst of allocation.

    Parsing and checking allocate one small object per token, node and
    solver term and create no reference cycles of their own, yet those
    allocations trigger collections that scan every live object; on large
    files that was a third of the time, and it grew faster than the input.
    Nested uses are fine: only the outermost one turns collection back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
