"""One writer per run folder: a lock held for the whole command, which no environment variable bypasses.

Two commands writing one `-o` folder interleave their rows and overwrite
each other's `run.json` entries, so `Run.open` takes `DIR/.caic.lock` and the
command keeps it until it exits. The lock is an `flock` on that file, held
through an open descriptor: the kernel gives it back when the holder exits
or is killed, so a lock can never be left stale, and taking over a dead
holder's file is the same atomic `flock` call as taking a fresh one (two
processes racing for it cannot both win; after winning, the holder checks
that the file it locked is still the one at the path, since a releasing
holder unlinks it). The file holds the owner's pid, host, start time and
command line, for the message that refuses a second command (`RunLocked`).
A file left by a dead process of this host is said on stderr and taken
over; one written by another host is never taken over (its lock may live in
that host's kernel). The same process may open its folder again; the
command-line boundary gives every lock back when the command ends
(`release_all`), and so does interpreter exit.

Distributed ranks: only a real launch counts (`process_rank`: `RANK` and
`WORLD_SIZE` both set, consistent, with a rendezvous address), so a leftover
`RANK=1` alone changes nothing. Rank 0 takes the lock and records its launch
(`launch_token`); every other rank joins: it waits, saying so on stderr,
until the lock is held by rank 0 of its own launch, and gives up with a
`RunLocked` after `JOIN_TIMEOUT` seconds, or as soon as the folder is held
by anything else. Nothing here imports torch.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from cai_lang.train.run.folder import RunError
from cai_lang.train.run.layout import LOCK

LOCK_NAME = LOCK  # named with every other file of a run folder
JOIN_TIMEOUT = 300.0  # seconds a rank other than 0 waits for rank 0 of its launch to take the folder
_WRITING_GRACE = 5.0  # seconds an empty lock file is taken as being written by its holder


class RunLocked(RunError):
    """Another live command holds this run folder (or a rank found no rank 0 of its launch)."""


def process_rank() -> tuple[int, int]:
    """(rank, world size) of a real distributed launch, else (0, 1): stray variables do not make a rank."""
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    except (KeyError, ValueError):
        return 0, 1
    if world <= 1 or not 0 <= rank < world or not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        return 0, 1
    return rank, world


def launch_token() -> str:
    """What every process of one `accelerate launch`/`torchrun` shares: its rendezvous and its launcher."""
    keys = ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")
    return ":".join([*(os.environ.get(key, "") for key in keys), str(os.getppid())])


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


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


_HELD: dict[Path, tuple[Path, bool, int]] = {}  # folder -> (lock file, whether this process created the folder, descriptor)


def _refusal(folder: Path, path: Path, holder: dict) -> RunLocked:
    command = " ".join(holder.get("argv") or []) or "another caic command"
    return RunLocked(
        f"{folder} is in use by {command!r} (process {holder.get('pid')} on {holder.get('host')}, since {holder.get('started', '?')}); "
        f"wait for it to finish or choose another -o"
    )


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        return os.fstat(descriptor).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def acquire(folder: str | Path, argv: list[str] | None = None) -> Path:
    """Take the lock of `folder` (creating the folder), or raise RunLocked. Returns the lock file."""
    folder = Path(folder).resolve()
    if folder in _HELD:
        return _HELD[folder][0]
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": list(argv or sys.argv)}
    if process_rank()[1] > 1:
        me["launch"] = launch_token()
    deadline = time.monotonic() + _WRITING_GRACE
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(descriptor)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = _read(path)
            if not holder and time.monotonic() < deadline:
                time.sleep(0.05)  # its holder is writing it right now
                continue
            raise _refusal(folder, path, holder) from None
        if not _same_file(descriptor, path):  # its holder unlinked it as we opened it: take the new one
            os.close(descriptor)
            continue
        break
    previous = _read(path)
    pid, host = previous.get("pid"), previous.get("host")
    if previous and (host != me["host"] or (isinstance(pid, int) and pid != os.getpid() and _alive(pid))):
        os.close(descriptor)  # another host's lock, or a live process that did not lock: never taken over
        raise _refusal(folder, path, previous)
    if previous and pid != os.getpid():
        sys.stderr.write(f"note: {path} was left by process {pid}, which no longer runs; taking the folder over\n")
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(me).encode("utf-8"), 0)
    os.fsync(descriptor)
    if not _HELD:
        atexit.register(release_all)
    _HELD[folder] = (path, created, descriptor)
    return path


def join(folder: str | Path, timeout: float = JOIN_TIMEOUT, poll: float = 0.2) -> None:
    """For a rank other than 0: wait until rank 0 of this launch holds `folder`, or raise RunLocked."""
    folder = Path(folder).resolve()
    path, token = folder / LOCK_NAME, launch_token()
    rank = process_rank()[0]
    deadline = time.monotonic() + timeout
    said = False
    while True:
        holder = _read(path)
        if holder.get("launch") == token and isinstance(holder.get("pid"), int) and _alive(holder["pid"]):
            return
        if holder and holder.get("launch") != token and _alive(holder.get("pid") or 0) and held(path):
            raise _refusal(folder, path, holder)
        if time.monotonic() >= deadline:
            raise RunLocked(f"rank {rank} waited {timeout:g} s for rank 0 of its launch to take {folder}, and it did not; "
                            f"is this process part of an `accelerate launch`? (RANK and WORLD_SIZE are set in its environment)")
        if not said:
            sys.stderr.write(f"rank {rank}: waiting (up to {timeout:g} s) for rank 0 of this launch to take {folder}\n")
            said = True
        time.sleep(poll)


def held(path: Path) -> bool:
    """Does some process hold the lock file `path` right now?"""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)
    return False


def holder_of_launch(folder: str | Path) -> bool:
    """Is `folder` still held by a live rank 0 of this process's launch? (A waiting rank stops when not.)"""
    holder = _read(Path(folder) / LOCK_NAME)
    return holder.get("launch") == launch_token() and isinstance(holder.get("pid"), int) and _alive(holder["pid"])


def release(folder: str | Path) -> None:
    """Give the lock of `folder` back (only if this process holds it).

    A folder this process created and left empty (the command failed before
    writing anything) is removed too, so a refused command leaves no trace.
    The file is unlinked while still locked, so a process that opened it
    meanwhile sees, once it has the lock, that it is no longer the file at
    the path and starts again.
    """
    folder = Path(folder).resolve()
    held_entry = _HELD.pop(folder, None)
    if held_entry is None:
        return
    path, created, descriptor = held_entry
    if _same_file(descriptor, path):
        path.unlink(missing_ok=True)
    os.close(descriptor)
    if created:
        try:
            folder.rmdir()  # fails, as it should, unless the folder is empty
        except OSError:
            pass


def release_all() -> None:
    """Give back every lock this process holds: at the end of a command, and at exit."""
    for folder in list(_HELD):
        release(folder)
