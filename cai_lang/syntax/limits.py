"""Limits on what the loader reads, so hostile or mistaken input is refused, not obeyed.

A `.const` file (the root or an import) must be a regular file (a FIFO or a
device would block or never end) no larger than `max_file_bytes()` (8 MiB
unless `CAIC_MAX_FILE_SIZE` says otherwise, in bytes); imports nest at most
`MAX_IMPORT_DEPTH` deep (a chain of a thousand files is a mistake, and
following it would exhaust the stack); a path component of an import is at
most `MAX_NAME` characters (what file systems allow). A UTF-8 byte order mark
at the start of a file is accepted and not part of the text.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_IMPORT_DEPTH = 64
MAX_NAME = 255
SHOWN_NAME = 60  # characters of an over-long name quoted in a message
from cai_lang.errors import CaicError


class InputRefused(CaicError, OSError):
    """A file the loader will not read; `strerror` says why, `filename` which file."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(0, reason, str(path))


def max_file_bytes() -> int:
    value = os.environ.get("CAIC_MAX_FILE_SIZE", "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    return DEFAULT_MAX_FILE_BYTES


def shorten(name: str) -> str:
    return name if len(name) <= SHOWN_NAME else name[: SHOWN_NAME - 3] + "..."


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_text(path: str | Path) -> str:
    """The text of a `.const` file, within the limits above; raises OSError (or InputRefused)."""
    limit = max_file_bytes()
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        kind = _kind(info.st_mode)
        raise InputRefused(path, f"{kind}, not a regular file" if kind.startswith("a ") else kind)
    if info.st_size > limit:
        raise InputRefused(path, f"{info.st_size} bytes, over the {limit}-byte limit (set CAIC_MAX_FILE_SIZE to raise it)")
    # Non-blocking, and checked again on the open file: it may have been
    # swapped for a FIFO between the stat and the open.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InputRefused(path, "not a regular file")
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise InputRefused(path, f"over the {limit}-byte limit (set CAIC_MAX_FILE_SIZE to raise it)")
    return raw.decode("utf-8-sig")


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
