"""The one input gate and the one atomic writer: how caic reads a user's file and writes one.

Reading (`read_bytes_gated`, `read_text_gated`): every command that reads a
`.const` file or a data file (prompts, imports, `caic fmt`, the language
server's reads from disk) goes through here. A file must be a regular file
(a FIFO, a device such as `/dev/zero` or a socket would block or never end),
no larger than `max_file_bytes()` (16 MiB unless `CAIC_MAX_FILE_SIZE` says
otherwise, in bytes, at most `HARD_MAX_FILE_BYTES`), reached without a
symbolic link loop, and UTF-8 (a leading byte order mark is dropped). The
checks run on the open file too, since the path may be swapped between the
stat and the open. A refusal is an `InputRefused` (an `OSError`) whose
`strerror` says why.

Writing (`write_atomic`): every write of a user's file (`caic fmt`,
`compile -o`, `export`) and of a run artefact goes to a temporary file in the
same folder, is flushed and fsynced, then renamed over the target, so a full
disk or a kill leaves the old file or the new one, never a truncated mix.
Of caic it imports only `cai_lang.errors`.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from cai_lang.errors import CaicError

DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
HARD_MAX_FILE_BYTES = 1024 * 1024 * 1024  # CAIC_MAX_FILE_SIZE above 1 GiB is taken as 1 GiB


class InputRefused(CaicError, OSError):
    """A file caic will not read; `strerror` says why, `filename` which file."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(0, reason, str(path))


class NotUTF8(InputRefused):
    """A file whose bytes are not UTF-8; `strerror` is `PATH:LINE:COLUMN: not valid UTF-8 (byte 0x..)...`."""


def max_file_bytes() -> int:
    """The size limit for one input file: CAIC_MAX_FILE_SIZE (bytes) when it is a positive number."""
    value = os.environ.get("CAIC_MAX_FILE_SIZE", "").strip()
    if value.isascii() and value.isdigit() and int(value) > 0:
        return min(int(value), HARD_MAX_FILE_BYTES)
    return DEFAULT_MAX_FILE_BYTES


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "something else"


def _refuse_kind(path: str | Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise InputRefused(path, f"{_kind(mode)}, not a regular file")


def read_bytes_gated(path: str | Path) -> bytes:
    """The bytes of an input file, within the limits above; raises OSError (InputRefused for a refusal)."""
    limit = max_file_bytes()
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputRefused(path, "a symbolic link loop") from exc
        raise
    _refuse_kind(path, info.st_mode)
    if info.st_size > limit:
        raise InputRefused(path, f"{info.st_size} bytes, over the {limit}-byte limit (set CAIC_MAX_FILE_SIZE to raise it)")
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        _refuse_kind(path, os.fstat(handle.fileno()).st_mode)
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise InputRefused(path, f"over the {limit}-byte limit (set CAIC_MAX_FILE_SIZE to raise it)")
    return raw


def decode_utf8(raw: bytes, path: str | Path) -> str:
    """UTF-8 text (a leading BOM dropped); invalid bytes are a NotUTF8 naming line and column."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise NotUTF8(path, f"{path}:{line}:{column}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8") from None


def read_text_gated(path: str | Path) -> str:
    """The UTF-8 text of an input file, within the limits above."""
    return decode_utf8(read_bytes_gated(path), path)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Replace `path` with `data` so that readers (and a full disk) leave the old file or the new one, never a mix.

    The temporary file sits in the same folder (a rename across file systems
    is not atomic) and is removed when anything fails; the error then names
    `path`, and the original is untouched. A file's permission bits are kept,
    and a symbolic link is followed (its target is replaced, the link stays).
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    try:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(descriptor, "wb") as handle:
            view = memoryview(payload)
            while view:
                written = handle.write(view)
                view = view[written:]
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk: name the file being written, not the temporary one
        try:
            tmp.unlink()
        except OSError:
            pass
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
