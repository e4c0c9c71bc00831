"""Run folders: the `run.json` provenance registry and the crash-safe row writer.

A run folder (`-o DIR`) holds everything one training run produced. This
module owns two things in it. `RunRecord` is `DIR/run.json`: every command
that worked on the folder (its command line and when), package versions,
the seed, the bundle's `content_hash`, the settings a resumed run must share,
the path (relative to DIR) and kind of every dataset, model and report
written, so a later step, or a person, finds them without guessing, and the
steps that ran to their end, so a resumed run skips them. It is rewritten
whole through a temporary file and `os.replace`, so a crash leaves the old
or the new file, never half of one. `RowWriter` appends dataset rows to a
JSONL file: one complete line per row with a single write, flushed and
fsynced, so a killed process loses at most the row it was writing. On
reopening it drops a torn last line and remembers the ids already written,
so a resumed run neither loses nor duplicates rows. Nothing here imports torch.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

RUN_FILE = "run.json"
RUN_FORMAT = 1
TRACKED_PACKAGES = ("caic", "torch", "transformers", "trl", "datasets", "accelerate", "tokenizers")


class RunError(ValueError):
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


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class RunRecord:
    """`DIR/run.json`: what ran in a run folder, with what, and what it wrote.

    Each invocation calls `start_command` once and `add_step` for each step
    it runs, `set` for facts (seed, content_hash, models), `add_output` for
    each file or folder written, `finish_command` at the end, and `save`
    after each change that matters. Later steps (RL, evaluation) append to
    the same record rather than writing their own. A command entry without
    `finished` is one that was interrupted.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / RUN_FILE
        self.data: dict[str, Any] = {
            "format": RUN_FORMAT,
            "created": now(),
            "commands": [],
            "versions": package_versions(),
            "outputs": {},
        }

    @classmethod
    def open(cls, folder: str | Path) -> "RunRecord":
        """The folder's record, read from disk if there is one, else a new one (not yet saved)."""
        record = cls(folder)
        if record.path.is_file():
            try:
                loaded = json.loads(record.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise RunError(f"cannot read {record.path}: {exc}") from exc
            if not isinstance(loaded, dict) or loaded.get("format") != RUN_FORMAT:
                raise RunError(f"{record.path} is not a caic run record (format {RUN_FORMAT})")
            # Versions describe the software now running; older ones stay in the command entries.
            loaded["versions"] = package_versions()
            record.data = loaded
        return record

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def start_command(self, argv: list[str] | None = None) -> None:
        argv = list(sys.argv if argv is None else argv)
        self.data["commands"].append(
            {"argv": argv, "cwd": os.getcwd(), "started": now(), "versions": package_versions(), "steps": []}
        )

    def add_step(self, name: str, **details: Any) -> None:
        """Note a step of the current command (`sl-generate`, `sl-sft`, ...) as done."""
        if not self.data["commands"]:
            self.start_command()
        self.data["commands"][-1]["steps"].append({"step": name, "finished": now(), **details})

    def finish_command(self, status: str = "done") -> None:
        if self.data["commands"]:
            self.data["commands"][-1].update(finished=now(), status=status)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    def add_output(self, name: str, path: str | Path, kind: str, **details: Any) -> None:
        """Register something written in the run folder under a stable name (`sl_data`, `sl_model`, ...)."""
        path = Path(path)
        try:
            shown = path.resolve().relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            shown = str(path.resolve())
        self.data["outputs"][name] = {"path": shown, "kind": kind, "updated": now(), **details}

    def output_path(self, name: str) -> Path | None:
        """Where output `name` lives, as a path usable from the current directory."""
        entry = self.data["outputs"].get(name)
        if entry is None:
            return None
        path = Path(entry["path"])
        return path if path.is_absolute() else self.folder / path

    def check_same(self, key: str, settings: Mapping[str, Any]) -> None:
        """Refuse to resume with settings that differ from those the rows were made with."""
        before = self.data.get(key)
        if before is None:
            return
        changed = [name for name in sorted(set(before) | set(settings)) if before.get(name) != settings.get(name)]
        if changed:
            details = "; ".join(f"{n}: was {before.get(n)!r}, now {settings.get(n)!r}" for n in changed)
            raise RunError(f"cannot resume {self.folder}: settings differ from the run that wrote it ({details})")

    # ------------------------------------------------------------ completed steps
    def completed(self, step: str) -> dict[str, Any] | None:
        """The record of a step (`sl-sft`, `rl-preference`, ...) that ran to its end, or None."""
        return self.data.get("completed", {}).get(step)

    def mark_completed(self, step: str, settings: Mapping[str, Any], outputs: Iterable[str]) -> None:
        """Note that `step` finished with these settings and wrote these outputs (names in `outputs`)."""
        self.data.setdefault("completed", {})[step] = {"settings": dict(settings), "outputs": list(outputs), "finished": now()}

    def skip_completed(self, step: str, settings: Mapping[str, Any]) -> bool:
        """Whether a resumed run may skip `step`: it finished before, with the same settings, and its
        outputs are still there. The same step finished with other settings is refused, naming them:
        its outputs, and whatever was made from them, would no longer match the run asked for."""
        done = self.completed(step)
        if done is None:
            return False
        before = done.get("settings", {})
        # As run.json will read back: tuples become lists, nested settings plain dicts.
        settings = json.loads(json.dumps(dict(settings), default=str))
        changed = [name for name in sorted(set(before) | set(settings)) if before.get(name) != settings.get(name)]
        if changed:
            details = "; ".join(f"{n}: was {before.get(n)!r}, now {settings.get(n)!r}" for n in changed)
            raise RunError(f"cannot resume {self.folder}: step {step} finished with other settings ({details}); use a new output folder")
        return all((path := self.output_path(name)) is not None and path.exists() for name in done.get("outputs", ()))

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data["updated"] = now()
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


class RowWriter:
    """Appends JSON rows, one line each, so that a kill loses at most the row being written.

    `written` holds the ids already in the file. Opening an existing file
    truncates a torn last line (one without its newline, or that is not
    JSON), which is what a kill during a write leaves. A bad line anywhere
    else means the file was damaged some other way, and is refused.
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
                self.written.add(str(row[self.id_key]))
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
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())
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
