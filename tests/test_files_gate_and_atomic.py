"""Issue 29, defects 3, 6, 9 and 10: one input gate, one atomic writer, and `caic fmt` never changing what a file says.

A full disk is simulated by making `fsync` fail with ENOSPC (where a real
file system reports delayed-allocation failures): the temporary file is
removed, the error names the target, and the original is byte-for-byte intact.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang import files
from cai_lang.cli.app import app
from cai_lang.lsp.formatting import format_text, words

OK = 'action a "do a"\n\nrule r {\n    never a\n}\n'
MESSY = 'action a   "do a"\nrule r { never a }\n'


def _full_disk(monkeypatch) -> None:
    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", fsync)


def test_write_atomic_on_a_full_disk_keeps_the_original(tmp_path, monkeypatch) -> None:
    target = tmp_path / "run.json"
    target.write_text('{"old": true}\n')
    _full_disk(monkeypatch)
    with pytest.raises(OSError) as info:
        files.write_atomic(target, "x" * 100_000)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"], "the temporary file is removed"


def test_fmt_on_a_full_disk_leaves_the_file_and_exits_2(tmp_path, monkeypatch) -> None:
    path = tmp_path / "c.const"
    path.write_text(MESSY)
    _full_disk(monkeypatch)
    result = CliRunner().invoke(app, ["fmt", str(path)])
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output and "left as it was" in result.output
    assert path.read_text() == MESSY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.const"]


def test_fmt_keeps_permissions(tmp_path) -> None:
    path = tmp_path / "c.const"
    path.write_text(MESSY)
    path.chmod(0o640)
    assert CliRunner().invoke(app, ["fmt", str(path)]).exit_code == 0
    assert path.read_text() == OK and (path.stat().st_mode & 0o777) == 0o640


def test_run_rows_on_a_full_disk_keep_the_old_file(tmp_path, monkeypatch) -> None:
    from cai_lang.train.run.formats import write_rows

    rows = tmp_path / "preferences.jsonl"
    write_rows(rows, [{"id": 1}])
    before = rows.read_bytes()
    _full_disk(monkeypatch)
    with pytest.raises(OSError):
        write_rows(rows, [{"id": n} for n in range(1000)])
    assert rows.read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fmt_refuses_a_fifo_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "pipe.const"
    os.mkfifo(fifo)
    result = CliRunner().invoke(app, ["fmt", str(fifo)])
    assert result.exit_code == 2 and "a FIFO, not a regular file" in result.output


def test_fmt_refuses_a_two_gigabyte_sparse_file(tmp_path) -> None:
    huge = tmp_path / "huge.const"
    with open(huge, "wb") as handle:
        handle.truncate(2 * 1024**3)
    result = CliRunner().invoke(app, ["fmt", str(huge)])
    assert result.exit_code == 2 and "over the 16777216-byte limit" in result.output


def test_a_huge_size_limit_is_capped_not_an_overflow(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CAIC_MAX_FILE_SIZE", "9" * 40)
    assert files.max_file_bytes() == files.HARD_MAX_FILE_BYTES
    path = tmp_path / "c.const"
    path.write_text(OK)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert files.read_text_gated(path) == OK


def test_a_symlink_loop_is_refused(tmp_path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(files.InputRefused, match="symbolic link loop"):
        files.read_text_gated(tmp_path / "a")


@pytest.mark.parametrize("source", ["/dev/zero", "fifo"])
def test_prompts_from_a_device_or_fifo_are_refused(tmp_path, source) -> None:
    from cai_lang.train.run.prompts import PromptSetError, load_prompts

    if source == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs FIFOs")
        source = str(tmp_path / "p.jsonl")
        os.mkfifo(source)
    elif not Path(source).exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(PromptSetError, match="not a regular file"):
        load_prompts(source)


UNKNOWN_FIELDS = [
    'principle p {\n    description "d"\n    example {\n        prompt "hi"\n        response "r"\n        reply "secret text"\n    }\n}\n',
    'principle p {\n    description "d"\n    comparison {\n        prompt "hi"\n        response "a"\n        response "b"\n        prefer A\n        verdict "secret text"\n    }\n}\n',
]


@pytest.mark.parametrize("text", UNKNOWN_FIELDS)
def test_fmt_refuses_a_file_with_an_unknown_field(tmp_path, text) -> None:
    assert format_text(text).text is None
    path = tmp_path / "c.const"
    path.write_text(text)
    result = CliRunner().invoke(app, ["fmt", str(path)])
    assert result.exit_code == 1 and "not formatted" in result.output
    assert path.read_text() == text


def test_words_see_a_dropped_string() -> None:
    assert words('action a "x"\n') != words('action a "y"\n')
    assert words('rule r {\n    detect regex "\\d+"\n    never a\n}\n') == words('rule r { detect regex "\\d+" never a }')


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_import_refuses_a_fifo_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "constitution.json"
    os.mkfifo(fifo)
    result = CliRunner().invoke(app, ["import", "--format", "hf-cai", str(fifo)])
    assert result.exit_code == 2 and "a FIFO, not a regular file" in result.output


def test_write_atomic_follows_a_symbolic_link(tmp_path) -> None:
    target = tmp_path / "real.const"
    target.write_text("old")
    link = tmp_path / "link.const"
    link.symlink_to(target)
    files.write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
