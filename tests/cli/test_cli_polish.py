"""The command line as a user meets it: option help in words, only methods that can run, `caic check -`, shell completion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
PYTHON_TYPES = re.compile(r"<(bool|int|float|str|path|list\[[^>]*\]|[a-z]+,[a-z]+)>")
BROKEN = 'constitution x {\n  version "1"\n}\n\nprinciple a {\n  critique "Point out problems."\n  revision "Fix them."\n}\n\npriority a > b\n'


@pytest.mark.parametrize("command", [[], ["check"], ["graph"], ["compile"], ["train"], ["eval"], ["generate", "sl"], ["generate", "rl"], ["tiny-model"], ["fmt"], ["redteam"], ["coverage"]])
def test_help_names_values_in_words_not_python_types(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert not PYTHON_TYPES.findall(result.output), PYTHON_TYPES.findall(result.output)


def test_train_help_shows_each_kind_of_value():
    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--max-steps\s+INTEGER", text) and re.search(r"--clamp\s+NUMBER NUMBER", text)
    assert re.search(r"--prompts\s+-p\s+TEXT \.\.\.", text) and re.search(r"--phase\s+sl\|rl\|all", text)
    assert re.search(r"--resume\s{2,}Continue", text)  # a flag takes no value, so none is shown


def test_a_method_that_cannot_run_is_not_offered():
    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    assert "dpo|kto|rloo|grpo" in text and "ppo" not in text.replace("rloo", "").replace("grpo", "")
    result = runner.invoke(app, ["train", "x.const", "-m", "m", "-o", "out", "--method", "ppo"])
    assert result.exit_code == 2


def test_check_reads_standard_input_on_both_paths(tmp_path):
    typer_path = runner.invoke(app, ["check", "-", "--strict"], input=BROKEN)
    assert typer_path.exit_code == 1 and "<stdin>:10:14" in typer_path.output and "checked <stdin>" in typer_path.output
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    fast = subprocess.run([sys.executable, "-m", "cai_lang", "check", "-"], input=BROKEN, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert fast.returncode == 1 and "E101" in fast.stdout and "<stdin>:10:14" in fast.stdout
    clean = subprocess.run([sys.executable, "-m", "cai_lang", "check", "-"], input=(REPO / "examples" / "medical.const").read_text(),
                           capture_output=True, text=True, env=env, cwd=REPO / "examples", timeout=120)
    assert clean.returncode == 0 and "0 errors" in clean.stdout  # its `import std.` lines resolve
    bad = subprocess.run([sys.executable, "-m", "cai_lang", "check", "-"], input=b"\xff\xfe", capture_output=True, env=env, timeout=120)
    assert bad.returncode == 2 and b"not UTF-8" in bad.stderr


def test_shell_completion_is_on():
    text = runner.invoke(app, ["--help"], env={"COLUMNS": "160"}).output
    assert "--install-completion" in text and "--show-completion" in text
