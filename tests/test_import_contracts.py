"""The dependency direction is a test: import-linter's contracts in pyproject.toml hold, and they catch a
forbidden import (a copy of the package with one added is refused)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")
ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    script = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert script, "lint-imports is not installed (the dev extra has import-linter)"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([script, "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("span.py", "import cai_lang.diagnostics  # noqa", "Compiler layers"),
        ("errors.py", "import cai_lang.span  # noqa", "Compiler layers"),
        # The compiler's middle layer is three independent siblings: codegen may not use the checker.
        ("codegen/compiler.py", "import cai_lang.check.types  # noqa", "Compiler layers"),
        ("syntax/printer.py", "import cai_lang.codegen.wording  # noqa", "Compiler layers"),
        ("train/rl/pairs.py", "import cai_lang.train.sl.sampling  # noqa", "Training layers"),
        ("train/decoding.py", "import cai_lang.train.sl.generate  # noqa", "Training layers"),
        ("train/run/layout.py", "import cai_lang.train.decoding  # noqa", "Training layers"),
        ("train/run/layout.py", "import cai_lang.codegen.compiler  # noqa", "The training side reads compiled bundles"),
        ("codegen/bundle.py", "import torch  # noqa", "Only engine, train and eval import torch"),
        ("engine/base.py", "import cai_lang.cli.common  # noqa", "Nothing imports the command line"),
        ("train/run/layout.py", "import cai_lang.train.phases  # noqa", "No import cycles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "cai_lang", tmp_path / "cai_lang", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "cai_lang" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
