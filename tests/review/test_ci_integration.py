"""CI integration: `--format github` workflow annotations for `caic check`
(both the fast path and the typer command) and the pre-commit hooks file,
whose every entry runs as written on a shipped example."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.diagnostics.github import annotation

REPO = Path(__file__).resolve().parents[2]
ANNOTATION = re.compile(r"^::(error|warning|notice) file=[^,]+,line=\d+,col=\d+,endLine=\d+,endColumn=\d+,title=[EWI]\d{3}::.+$")


def test_annotations_escape_what_would_break_the_line() -> None:
    line = annotation("error", "50% done\nnext line", file="a,b:c.const", line=3, col=1, title="E101")
    assert line == "::error file=a%2Cb%3Ac.const,line=3,col=1,title=E101::50%25 done%0Anext line"


def test_check_format_github_on_both_paths(tmp_path) -> None:
    path = tmp_path / "bad.const"
    path.write_text("context {\n    risk: low | high\n}\nrule r { never nothing when risk == high }\n", encoding="utf-8")
    typer_out = CliRunner().invoke(app, ["check", "--format", "github", str(path)])
    fast = subprocess.run([sys.executable, "-m", "cai_lang", "check", "--format", "github", str(path)], capture_output=True, text=True, cwd=REPO)
    assert typer_out.exit_code == fast.returncode == 1
    assert typer_out.output == fast.stdout
    lines = fast.stdout.splitlines()
    assert lines and all(ANNOTATION.match(line) for line in lines), lines
    assert any(line.startswith("::error ") and "title=E101" in line and "line=4" in line for line in lines)


def test_pre_commit_hooks_run_as_written() -> None:
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {h["id"] for h in hooks} == {"caic-fmt", "caic-check", "caic-test"}
    example = REPO / "stdlib_constitutions" / "helpful.const"
    for hook in hooks:
        command = shlex.split(hook["entry"])
        assert command[0] == "caic" and re.search(hook["files"], example.name)
        target = example if command[1] == "fmt" else REPO / "examples" / "medical.const"
        result = CliRunner().invoke(app, [*command[1:], str(target)])
        assert result.exit_code == 0, (hook["id"], result.output)
