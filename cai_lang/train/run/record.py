"""`DIR/run.json`, the run folder's provenance record: the only code that reads or writes it.

The record lists every command that worked on the folder (its command line,
when, the package versions, the steps it ran), the run-level facts (seed,
the bundle's `content_hash`, constitution, deployment, the models by role),
the settings a resumed step must share, and the path (relative to DIR) and
kind of every dataset, model and report written, so a later step, or a
person, finds them without guessing; plus the steps that ran to their end,
so a resumed run skips them. A command opens the record once, changes it in
memory and saves it after each change that matters; nothing else reads the
file back in between. Entries are merged, never replaced: a map such as
`models` gains keys, and a fact another command recorded first (an
evaluation's seed in a training folder) is kept with `keep`. The file is
rewritten whole through `write_atomic`, so a crash leaves the old or the new
file. The names of the files it registers are `cai_lang.train.run.layout`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from cai_lang.train.run.folder import RunError, now, package_versions, write_atomic
from cai_lang.train.run.layout import RunLayout

RUN_FORMAT = 1


class RunRecord:
    """`DIR/run.json`: what ran in a run folder, with what, and what it wrote.

    Each invocation calls `start_command` once and `add_step` for each step
    it runs, `set`/`keep`/`merge` for facts, `add_output` for each file or
    folder written, `finish_command` at the end, and `save` after each
    change that matters. A command entry without `finished` is one that was
    interrupted.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.layout = RunLayout(self.folder)
        self.path = self.layout.run_file
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
        record.reload()
        return record

    def reload(self) -> None:
        """Read the file again: only for a process that waits while another one writes it (`accelerate launch`)."""
        if not self.path.is_file():
            return
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunError(f"cannot read {self.path}: {exc}") from exc
        if not isinstance(loaded, dict) or loaded.get("format") != RUN_FORMAT:
            raise RunError(f"{self.path} is not a caic run record (format {RUN_FORMAT})")
        # Versions describe the software now running; older ones stay in the command entries.
        loaded["versions"] = package_versions()
        self.data = loaded

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    # ------------------------------------------------------------ commands and steps
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

    # ------------------------------------------------------------ facts
    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Record a fact of the run; a map is merged into the one recorded under `key`, never replaces it."""
        before = self.data.get(key)
        if isinstance(value, Mapping) and isinstance(before, dict):
            before.update(value)
        else:
            self.data[key] = dict(value) if isinstance(value, Mapping) else value

    def merge(self, key: str, entries: Mapping[str, Any]) -> None:
        """Add `entries` to the map under `key` (`models`, ...), keeping the keys already there."""
        self.data.setdefault(key, {}).update(entries)

    def keep(self, key: str, value: Any) -> None:
        """Record a fact only if the run has none yet (a later command never rewrites the first one's)."""
        self.data.setdefault(key, value)

    # ------------------------------------------------------------ outputs
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

    def page(self, kind: str) -> Path:
        """Where this run's `training` or `eval` page goes (see `RunLayout.page`)."""
        return self.layout.page(kind, self.data["outputs"])

    # ------------------------------------------------------------ resuming
    def check_same(self, key: str, settings: Mapping[str, Any]) -> None:
        """Refuse to resume with settings that differ from those the rows were made with."""
        before = self.data.get(key)
        if before is None:
            return
        changed = _changed(before, settings)
        if changed:
            details = "; ".join(f"{n}: was {before.get(n)!r}, now {settings.get(n)!r}" for n in changed)
            raise RunError(f"cannot resume {self.folder}: settings differ from the run that wrote it ({details})")

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
        changed = _changed(before, settings)
        if changed:
            details = "; ".join(f"{n}: was {before.get(n)!r}, now {settings.get(n)!r}" for n in changed)
            raise RunError(f"cannot resume {self.folder}: step {step} finished with other settings ({details}); use a new output folder")
        return all((path := self.output_path(name)) is not None and path.exists() for name in done.get("outputs", ()))

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data["updated"] = now()
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def _changed(before: Mapping[str, Any], now_: Mapping[str, Any]) -> list[str]:
    return [name for name in sorted(set(before) | set(now_)) if before.get(name) != now_.get(name)]
