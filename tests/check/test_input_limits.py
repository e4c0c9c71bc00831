"""Hostile input is refused with a diagnostic or a one-line error, never a hang or traceback.

FIFOs, huge (sparse) files, symbolic link loops, thousand-file import chains,
over-long import names and weights that overflow to infinity (issue 16, item
2); a UTF-8 byte order mark is accepted.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from cai_lang.api import CompileRefused, check_file, compile_file
from cai_lang.cli.run_check import run_check
from cai_lang.diagnostics.render import render_json
from cai_lang.syntax.limits import MAX_IMPORT_DEPTH, InputRefused

OK = 'principle p { critique "Point out gaps." revision "Fill the gaps." compare "Which has fewer gaps?" }\n'


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics if d.is_error]


def cli(path: Path, monkeypatch) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    status = run_check([str(path)], None, "text", False)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_root_is_refused_without_blocking(tmp_path, monkeypatch) -> None:
    fifo = tmp_path / "pipe.const"
    os.mkfifo(fifo)
    with pytest.raises(InputRefused, match="FIFO"):
        check_file(fifo)
    status, _, err = cli(fifo, monkeypatch)
    assert status == 2 and "a FIFO, not a regular file" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_import_is_e103(tmp_path) -> None:
    os.mkfifo(tmp_path / "pipe.const")
    root = tmp_path / "root.const"
    root.write_text('import "pipe.const" as p\n' + OK)
    result = check_file(root)
    (problem,) = [d for d in result.diagnostics if d.code == "E103"]
    assert "is not a file" in problem.help and problem.span.line == 1


def test_two_gigabyte_sparse_file_is_refused_as_root_and_import(tmp_path, monkeypatch) -> None:
    huge = tmp_path / "huge.const"
    with open(huge, "wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: no disk used
    status, _, err = cli(huge, monkeypatch)
    assert status == 2 and "over the 16777216-byte limit" in err
    root = tmp_path / "root.const"
    root.write_text('import "huge.const" as h\n' + OK)
    assert "E103" in codes(check_file(root))


def test_size_limit_is_configurable(tmp_path, monkeypatch) -> None:
    path = tmp_path / "p.const"
    path.write_text(OK)
    monkeypatch.setenv("CAIC_MAX_FILE_SIZE", "10")
    with pytest.raises(InputRefused, match="10-byte limit"):
        check_file(path)
    monkeypatch.setenv("CAIC_MAX_FILE_SIZE", str(len(OK)))
    assert not codes(check_file(path))


def test_thousand_file_import_chain_stops_at_the_depth_limit(tmp_path) -> None:
    for index in range(1000):
        body = f'import "m{index + 1}.const" as m\n' if index < 999 else ""
        (tmp_path / f"m{index}.const").write_text(body + OK.replace("principle p", f"principle p{index}"))
    result = check_file(tmp_path / "m0.const")
    deep = [d for d in result.diagnostics if d.code == "E103"]
    assert len(deep) == 1 and f"nested more than {MAX_IMPORT_DEPTH} deep" in deep[0].message
    assert len(result.program.modules) == MAX_IMPORT_DEPTH


def test_symlink_loop_root_is_refused(tmp_path, monkeypatch) -> None:
    loop = tmp_path / "loop.const"
    loop.symlink_to(tmp_path / "loop.const")
    status, out, err = cli(loop, monkeypatch)
    assert status == 2 and "Traceback" not in out + err
    assert "symbolic link" in err.lower()


@pytest.mark.parametrize("target", ['"{}.const"', "std.{}"])
def test_import_name_over_255_characters_is_a_diagnostic(tmp_path, target) -> None:
    root = tmp_path / "root.const"
    name = "a" * 300
    root.write_text(f"import {target.format(name)} as x\n" + OK)
    result = check_file(root)
    (problem,) = [d for d in result.diagnostics if d.code == "E103"]
    assert "characters long, over 255" in problem.message
    assert len(problem.message) < 200  # the name is shortened, not echoed


def test_infinite_weight_is_e107_and_every_output_survives(tmp_path) -> None:
    path = tmp_path / "w.const"
    digits = "9" * 320
    path.write_text(OK.replace(' }', f" weight {digits} }}") + f"deployment d {{ weight p {digits} }}\n")
    result = check_file(path)
    problems = [d for d in result.diagnostics if d.code == "E107"]
    assert len(problems) == 2 and all("too large" in d.message for d in problems)
    json.loads(render_json(result.diagnostics))
    with pytest.raises(CompileRefused):
        compile_file(path)


def test_byte_order_mark_is_accepted(tmp_path) -> None:
    path = tmp_path / "bom.const"
    path.write_bytes(b"\xef\xbb\xbf" + OK.encode())
    result = check_file(path)
    assert not codes(result)
    assert result.program.root_module.declarations[0].name.span.column == 11


def test_unsaved_editor_text_obeys_the_size_limit(tmp_path, monkeypatch) -> None:
    root = tmp_path / "root.const"
    module = tmp_path / "m.const"
    root.write_text('import "m.const" as m\n' + OK)
    module.write_text(OK.replace("principle p", "principle q"))
    monkeypatch.setenv("CAIC_MAX_FILE_SIZE", "1000")
    result = check_file(root, overlays={str(module.resolve()): OK * 20})
    (problem,) = [d for d in result.diagnostics if d.code == "E103"]
    assert "1000-byte limit" in problem.message
    with pytest.raises(InputRefused):
        check_file(root, overlays={str(root.resolve()): OK * 20})
