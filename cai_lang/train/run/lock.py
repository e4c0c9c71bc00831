"""One writer per run folder: a lock file held for the whole command.

Two commands writing one `-o` folder interleave their rows and overwrite
each other's `run.json` entries, so `Run.open` takes `DIR/.caic.lock`
(created exclusively, holding the owner's pid, host, start time and command
line) and the command keeps it until it exits. A second command is refused
with `RunLocked`, naming the holder. A lock whose pid no longer runs on this
host is stale (the holder was killed): it is taken over, and the take-over is
said on stderr. A lock from another host cannot be checked and is never
taken over. The same process may open its folder again (a command that runs
several steps); the command-line boundary gives every lock back when the
command ends (`release_all`), and so does interpreter exit. Processes other
than rank 0 of an `accelerate launch` only read the folder and take no lock.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import time
from pathlib import Path

from cai_lang.train.run.folder import RunError
from cai_lang.train.run.layout import LOCK

LOCK_NAME = LOCK  # named with every other file of a run folder


class RunLocked(RunError):
    """Another live command holds this run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _read(path: Path) -> dict:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


_HELD: dict[Path, tuple[Path, bool]] = {}  # folder -> (lock file, whether this process created the folder)


def acquire(folder: str | Path, argv: list[str] | None = None) -> Path:
    """Take the lock of `folder` (creating the folder), or raise RunLocked. Returns the lock file."""
    folder = Path(folder).resolve()
    if folder in _HELD:
        return _HELD[folder][0]
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": list(argv or sys.argv)}
    for _ in range(3):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            pid, host = holder.get("pid"), holder.get("host")
            if pid == os.getpid() and host == me["host"]:
                break  # this process wrote it and forgot (a fresh Run in the same command)
            if isinstance(pid, int) and host == me["host"] and not _alive(pid):
                sys.stderr.write(f"note: {path} was left by process {pid}, which no longer runs; taking the folder over\n")
                path.unlink(missing_ok=True)
                continue
            if not holder and time.time() - _mtime(path) < 5:
                time.sleep(0.2)  # being written right now by its owner
                continue
            command = " ".join(holder.get("argv") or []) or "another caic command"
            raise RunLocked(
                f"{folder} is in use by {command!r} (process {pid} on {host}, since {holder.get('started', '?')}); "
                f"wait for it to finish or choose another -o (if that process is gone, delete {path})"
            )
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(me, handle)
            break
    else:
        raise RunLocked(f"cannot take {path}: another command keeps taking it")
    if not _HELD:
        atexit.register(release_all)
    _HELD[folder] = (path, created)
    return path


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def release(folder: str | Path) -> None:
    """Give the lock of `folder` back (only if this process holds it).

    A folder this process created and left empty (the command failed before
    writing anything) is removed too, so a refused command leaves no trace.
    """
    folder = Path(folder).resolve()
    held = _HELD.pop(folder, None)
    if held is None:
        return
    path, created = held
    if _read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)
    if created:
        try:
            folder.rmdir()  # fails, as it should, unless the folder is empty
        except OSError:
            pass


def release_all() -> None:
    """Give back every lock this process holds: at the end of a command, and at exit."""
    for folder in list(_HELD):
        release(folder)
