"""Skip every language-server test when the lsp extra (pygls, lsprotocol) is missing."""

from __future__ import annotations

import importlib.util

import pytest

MISSING = [name for name in ("pygls", "lsprotocol") if importlib.util.find_spec(name) is None]


@pytest.fixture(autouse=True)
def lsp_extra():
    if MISSING:
        pytest.skip(f"the lsp extra is not installed ({', '.join(MISSING)} missing; pip install -e '.[lsp]')")
