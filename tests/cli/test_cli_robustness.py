"""No input makes `caic check` print a Python traceback: empty files, binary
garbage, very large files, deep nesting and broken imports each get a
diagnostic (exit 1) or a one-line usage error (exit 2)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

PRINCIPLE = 'principle p{i} {{ critique "Point out gaps in answer {i}." revision "Fill the gaps." compare "Which answer has fewer gaps?" }}\n'


def run_check(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cai_lang", "check", *extra, str(path)], capture_output=True, text=True, timeout=300
    )


def assert_clean_failure(done: subprocess.CompletedProcess, expected: int) -> None:
    assert done.returncode == expected, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.const"
    path.write_text("")
    done = run_check(path)
    assert_clean_failure(done, 1)
    assert "E208" in done.stdout


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.const"
    path.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(4096)))
    done = run_check(path)
    assert_clean_failure(done, 2)
    assert "not UTF-8" in done.stderr


def test_utf8_garbage(tmp_path: Path) -> None:
    path = tmp_path / "noise.const"
    rng = random.Random(1)
    path.write_text("".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(4000)), encoding="utf-8")
    assert_clean_failure(run_check(path), 1)


def test_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep.const"
    path.write_text(
        "context { a: bool  b: bool }\n"
        'principle p { compare "Which answer is shorter?" applies when ' + "not " * 5000 + "a }\n"
        'principle q { compare "Which answer is longer?" applies when ' + "(" * 3000 + "a" + ")" * 3000 + " }\n"
        'principle r { compare "Which answer is kinder?" applies when ' + "(a and " * 2000 + "b" + ")" * 2000 + " }\n"
    )
    done = run_check(path, "--format", "json")
    assert_clean_failure(done, 1)
    assert done.stdout.count('"E001"') == 3


def test_ten_megabyte_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.const"
    filler = "# " + "x" * 997 + "\n"
    body = PRINCIPLE.format(i=0) + filler * (10 * 1024) + 'principle big { compare "' + "long " * 100_000 + '" }\n'
    path.write_text(body)
    assert path.stat().st_size > 10_000_000
    done = run_check(path)
    assert done.returncode in (0, 1) and "Traceback" not in done.stdout + done.stderr


def test_many_declarations(tmp_path: Path) -> None:
    path = tmp_path / "many.const"
    path.write_text("".join(PRINCIPLE.format(i=i) for i in range(5000)))
    done = run_check(path, "--format", "json")
    assert done.returncode == 0 and "Traceback" not in done.stderr


def test_a_folder_and_a_missing_file_are_usage_errors(tmp_path: Path) -> None:
    assert_clean_failure(run_check(tmp_path), 2)
    assert_clean_failure(run_check(tmp_path / "missing.const"), 2)
