"""Run-folder rows: the crash-safe JSONL row writer and reader, and atomic file replacement.

`RowWriter` appends dataset rows to a JSONL file: one complete line per
row with a single write, flushed and fsynced, so a killed process loses at
most the row it was writing. On reopening it drops a torn last line and
remembers the ids already written, so a resumed run neither loses nor
duplicates rows. `write_atomic` (`cai_lang.files`, re-exported here) replaces
a file through a temporary file in the same folder and `os.replace`, so a
crash or a full disk leaves the old or the new file, never half of one. What the files are called is `cai_lang.train.run.layout`; run.json is
`cai_lang.train.run.record`. Nothing here imports torch.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from cai_lang.files import write_atomic

__all__ = ["RowWriter", "RunError", "now", "package_versions", "write_atomic"]

TRACKED_PACKAGES = ("caic", "torch", "transformers", "trl", "datasets", "accelerate", "tokenizers")
from cai_lang.errors import CaicError


class RunError(CaicError, ValueError):
    """A run folder that cannot be used as asked (a clash with an earlier run, a corrupt file)."""


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions, read from package metadata (nothing is imported)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class RowWriter:
    """Appends JSON rows, one line each, so that a kill loses at most the row being written.

    `written` holds the ids already in the file. Opening an existing file
    truncates a torn last line (one without its newline, or that is not
    JSON), which is what a kill during a write leaves. A bad line anywhere
    else, or a row id given twice, means the file was damaged some other way,
    and is refused, so what a resume counts is what is on disk.
    """

    def __init__(self, path: str | Path, *, id_key: str = "id"):
        self.path = Path(path)
        self.id_key = id_key
        self.written: set[str] = set()
        self.dropped_torn_line = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._handle = open(self.path, "ab")

    def _recover(self) -> None:
        data = self.path.read_bytes()
        *complete, tail = data.split(b"\n")
        good_end = 0
        for n, line in enumerate(complete, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise RunError(f"{self.path}: line {n} is not JSON; only a torn last line can be repaired") from exc
                if not isinstance(row, dict) or self.id_key not in row:
                    raise RunError(f"{self.path}: line {n} is not a row with `{self.id_key}`")
                row_id = str(row[self.id_key])
                if row_id in self.written:
                    # What two commands writing one folder at once used to leave
                    # (the writer lock now prevents it): counting ids would then
                    # disagree with the rows a trainer reads.
                    raise RunError(
                        f"{self.path}: line {n} repeats the row `{row_id}`; the file holds {len(complete)} lines "
                        "but fewer distinct rows, so it cannot be resumed; remove the repeated rows or start another -o"
                    )
                self.written.add(row_id)
            good_end += len(line) + 1
        # Every row is written with its newline in one write, so text after
        # the last newline is a row a kill cut short: drop it, it is redone.
        if tail:
            self.dropped_torn_line = True
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())

    def __contains__(self, row_id: object) -> bool:
        return row_id in self.written

    def __len__(self) -> int:
        return len(self.written)

    def append(self, row: Mapping[str, Any]) -> bool:
        """Write one row unless its id is already in the file; True if written."""
        row_id = str(row[self.id_key])
        if row_id in self.written:
            return False
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:  # disk full, quota: say which file, the errno alone names none
            raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
        self.written.add(row_id)
        return True

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every complete row of a JSONL file written by `RowWriter` (a torn last line is skipped)."""
    rows = []
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if n == len(lines) - 1:
                break
            raise RunError(f"{path}: line {n + 1} is not JSON ({exc.msg})") from exc
    return rows


def check_hashes(rows: Sequence[Mapping[str, Any]], content_hash: str | None, where: str) -> None:
    """Refuse rows made under another bundle: their labels answer another constitution's questions."""
    if content_hash is None:
        return
    for row in rows:
        found = row.get("content_hash")
        if found != content_hash:
            row_id = row.get("id", row.get("pair_id", "?"))
            raise RunError(
                f"{where}: row {row_id!r} was made with bundle {str(found)[:16]}…, not this run's {content_hash[:16]}…; "
                "data made under different constitutions cannot be mixed (use a new output folder)"
            )
