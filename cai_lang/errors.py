"""The root of caic's own errors, and the one description of a failed file operation.

Every error caic raises on purpose for a user to read derives from
`CaicError`, which carries the exit code a command ends with when it
escapes (2, a usage or input problem, unless a subclass says otherwise).
Each also keeps the standard base it had (`ValueError`, `KeyError`,
`RuntimeError`, `OSError`, ...), so code that catches those still works.
The command line has one boundary (`cai_lang.cli.boundary.guarded`) that
turns any `CaicError` into its message and exit code. An error that is a
bug in caic (the formatter changing a file's meaning) deliberately is not a
`CaicError`: it should surface as a traceback.

This module imports nothing from caic, so every layer may use it.
"""

from __future__ import annotations

from pathlib import Path


class CaicError(Exception):
    """An error whose message is the whole story for the user; `exit_code` is what the command exits with."""

    exit_code: int = 2


def os_reason(exc: BaseException) -> str:
    """Why reading or writing a file failed, in words: the system's reason, or that the bytes are not UTF-8."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason})"
    return getattr(exc, "strerror", None) or str(exc)


def describe_os_error(exc: BaseException, verb: str, path: str | Path | None = None, *, fallback: str | Path | None = None) -> str:
    """`cannot read notes.const: No such file or directory`.

    The file named is `path` when given, else the one the error names, else
    `fallback`, else "a file"; `verb` is what failed (read, write, ...).
    """
    where = path if path is not None else (getattr(exc, "filename", None) or fallback or "a file")
    return f"cannot {verb} {where}: {os_reason(exc)}"
