"""One writer per run folder (issue 16, item 1): a second command is refused while the
first holds the folder, a lock left by a killed command is taken over, and the lock is
given back when the command ends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cai_lang.train.run import lock
from cai_lang.train.run.lock import LOCK_NAME, RunLocked
from cai_lang.train.run.session import Run

REPO = Path(__file__).resolve().parents[2]


def _holder(folder: Path) -> subprocess.Popen:
    """Another process that opens the run folder and keeps it until its stdin closes."""
    code = textwrap.dedent(
        f"""
        import sys
        from cai_lang.train.run.session import Run
        Run.open({str(folder)!r})
        print("holding", flush=True)
        sys.stdin.read()
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "holding"
    return process


def test_a_second_writer_is_refused_and_the_lock_is_given_back(tmp_path) -> None:
    folder = tmp_path / "run"
    first = _holder(folder)
    try:
        with pytest.raises(RunLocked, match=rf"in use by .*process {first.pid}"):
            Run.open(folder)
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    assert not (folder / LOCK_NAME).exists()  # released at exit
    Run.open(folder)  # now free
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release(folder)


def test_a_second_generate_command_exits_2_naming_the_holder(tmp_path) -> None:
    folder = tmp_path / "run"
    first = _holder(folder)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cai_lang", "generate", "sl", str(REPO / "examples" / "medical.const"), "-m", "x", "-o", str(folder)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300,
        )
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "is in use by" in done.stderr and str(first.pid) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": int(dead), "host": socket.gethostname(), "argv": ["caic", "train"]}))
    Run.open(folder)
    assert "no longer runs; taking the folder over" in capsys.readouterr().err
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release(folder)


def test_a_lock_from_another_host_is_never_taken_over(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "argv": ["caic", "train"]}))
    with pytest.raises(RunLocked, match="on elsewhere.example"):
        Run.open(folder)


def test_the_same_process_may_open_its_folder_again(tmp_path) -> None:
    folder = tmp_path / "run"
    Run.open(folder)
    Run.open(folder)
    lock.release(folder)
    assert not (folder / LOCK_NAME).exists()


def test_resume_refuses_a_file_with_repeated_rows(tmp_path) -> None:
    from cai_lang.train.run.folder import RowWriter, RunError

    path = tmp_path / "sft.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "a"}\n')
    with pytest.raises(RunError, match="line 3 repeats the row `a`"):
        RowWriter(path)


def test_a_full_disk_is_reported_with_the_file_name(tmp_path, monkeypatch) -> None:
    import errno

    from cai_lang.train.run import folder as folder_module
    from cai_lang.train.run.folder import RowWriter

    writer = RowWriter(tmp_path / "rows.jsonl")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(folder_module.os, "fsync", full)
    with pytest.raises(OSError) as info:
        writer.append({"id": "a"})
    assert info.value.filename == str(tmp_path / "rows.jsonl") and info.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as info:
        folder_module.write_atomic(tmp_path / "run.json", "{}")
    assert info.value.filename == str(tmp_path / "run.json")
    assert not list(tmp_path.glob(".run.json.*"))
    writer.close()


# ---------------------------------------------------------------- issue 29, defect 7


LAUNCH = {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def test_a_stray_rank_variable_does_not_bypass_the_lock(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "run"
    first = _holder(folder)
    try:
        for env in ({"RANK": "1"}, {"RANK": "1", "WORLD_SIZE": "2"}, {"RANK": "3", **LAUNCH}):
            for key in ("RANK", *LAUNCH):
                monkeypatch.delenv(key, raising=False)
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            with pytest.raises(RunLocked, match=rf"in use by .*process {first.pid}"):
                Run.open(folder)
    finally:
        first.stdin.close()
        first.wait(timeout=60)


def test_a_rank_of_a_launch_refuses_a_folder_held_by_another_command(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "run"
    first = _holder(folder)
    try:
        monkeypatch.setenv("RANK", "1")
        for key, value in LAUNCH.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(RunLocked, match=rf"in use by .*process {first.pid}"):
            lock.join(folder, timeout=30)
    finally:
        first.stdin.close()
        first.wait(timeout=60)


def test_a_waiting_rank_says_what_for_and_gives_up(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RANK", "1")
    for key, value in LAUNCH.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RunLocked, match="rank 1 waited 0.5 s for rank 0 of its launch"):
        lock.join(tmp_path / "run", timeout=0.5, poll=0.05)
    assert "rank 1: waiting (up to 0.5 s) for rank 0 of this launch" in capsys.readouterr().err


def test_a_rank_joins_rank_0_of_its_own_launch(tmp_path, monkeypatch) -> None:
    for key, value in LAUNCH.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RANK", "0")
    folder = tmp_path / "run"
    Run.open(folder)
    try:
        assert json.loads((folder / LOCK_NAME).read_text())["launch"] == lock.launch_token()
        monkeypatch.setenv("RANK", "1")
        lock.join(folder, timeout=5)
        assert lock.holder_of_launch(folder)
    finally:
        lock.release(folder)


def _race(folder: str, barrier, results, done) -> None:
    from cai_lang.train.run import lock as racing

    barrier.wait()
    try:
        racing.acquire(folder)
    except RunLocked:
        results.put("refused")
        return
    results.put("holder")
    done.wait(60)  # keep it until every racer has tried


def test_racing_for_one_stale_lock_gives_one_holder(tmp_path) -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    racers, trials = 4, 30
    for trial in range(trials):
        folder = tmp_path / f"run{trial}"
        folder.mkdir()
        (folder / LOCK_NAME).write_text(json.dumps({"pid": int(dead), "host": socket.gethostname(), "argv": ["caic", "train"]}))
        barrier, results, done = context.Barrier(racers), context.Queue(), context.Event()
        processes = [context.Process(target=_race, args=(str(folder), barrier, results, done)) for _ in range(racers)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=120) for _ in range(racers)]
        done.set()
        for process in processes:
            process.join(timeout=60)
        assert outcomes.count("holder") == 1, (trial, outcomes)
