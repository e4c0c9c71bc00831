"""Limits on what the loader reads, so hostile or mistaken input is refused, not obeyed.

A `.const` file (the root or an import) passes caic's one input gate
(`cai_lang.files`: a regular file, no larger than `max_file_bytes()`); imports nest at most
`MAX_IMPORT_DEPTH` deep (a chain of a thousand files is a mistake, and
following it would exhaust the stack); a path component of an import is at
most `MAX_NAME` characters (what file systems allow). A UTF-8 byte order mark
at the start of a file is accepted and not part of the text.
"""

from __future__ import annotations

from pathlib import Path

from cai_lang.files import DEFAULT_MAX_FILE_BYTES, InputRefused, max_file_bytes, read_bytes_gated

__all__ = ["DEFAULT_MAX_FILE_BYTES", "InputRefused", "MAX_IMPORT_DEPTH", "MAX_NAME", "max_file_bytes", "read_text"]

MAX_IMPORT_DEPTH = 64
MAX_NAME = 255
SHOWN_NAME = 60  # characters of an over-long name quoted in a message


def shorten(name: str) -> str:
    return name if len(name) <= SHOWN_NAME else name[: SHOWN_NAME - 3] + "..."


def read_text(path: str | Path) -> str:
    """The text of a `.const` file through caic's one input gate (`cai_lang.files`); raises OSError or UnicodeDecodeError."""
    return read_bytes_gated(path).decode("utf-8-sig")


def resolve_root(path: str | Path) -> Path:
    """The real path of a root file; a symbolic link loop is refused, not a RuntimeError."""
    try:
        return Path(path).resolve()
    except RuntimeError as exc:  # Python < 3.13 reports a link loop this way
        raise InputRefused(path, "a symbolic link loop") from exc


def long_component(target: str, is_path: bool) -> str | None:
    """The first component of an import (a path's folder or file, a `std.` name) over MAX_NAME."""
    parts = target.replace("\\", "/").split("/") if is_path else target.split(".")
    return next((part for part in parts if len(part) > MAX_NAME), None)
