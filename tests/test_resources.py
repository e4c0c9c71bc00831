"""grammar/ and stdlib_constitutions/ are found from a checkout and from an
installed wheel (where they travel inside the package as cai_lang/_data)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cai_lang import resources

REPO = Path(__file__).resolve().parents[1]


def test_found_from_the_checkout() -> None:
    assert resources.grammar_file().is_file()
    assert (resources.stdlib_dir() / "harmless.const").is_file()


@pytest.mark.slow
def test_found_from_an_installed_wheel(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cai_lang/_data/grammar/constitution.lark" in names
    assert "cai_lang/_data/stdlib_constitutions/harmless.const" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import cai_lang, cai_lang.resources as r\n"
        "from cai_lang.api import check_file\n"
        "print(cai_lang.__file__)\nprint(r.grammar_file())\nprint(r.stdlib_dir())\n"
        "res = check_file(r.stdlib_dir() / 'harmless.const')\n"
        "print('ERRORS', sum(d.is_error for d in res.diagnostics))\n"
    )
    # Run from an empty folder with the unpacked wheel first on the path, so
    # neither the checkout nor the editable install can be what is found.
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n" + probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(line.startswith(str(site)) for line in lines[:3]), lines
    assert lines[3] == "ERRORS 0"
