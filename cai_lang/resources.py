"""The one place that finds the files caic ships beside its code.

From a checkout, `grammar/` and `stdlib_constitutions/` sit at the repository
root; in an installed wheel they are copied into `cai_lang/_data/`. Every
other module asks here instead of computing paths of its own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"caic installation is incomplete: cannot find the `{name}` folder")


@lru_cache(maxsize=None)
def grammar_dir() -> Path:
    return _find("grammar")


def grammar_file() -> Path:
    return grammar_dir() / "constitution.lark"


@lru_cache(maxsize=None)
def stdlib_dir() -> Path:
    return _find("stdlib_constitutions")


def data_dir() -> Path:
    """Data files that live inside the package (prompt sets)."""
    return _PACKAGE_DIR / "data"
