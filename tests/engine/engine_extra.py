"""Whether the local engine's libraries are installed: the tests that load weights skip without them."""

from __future__ import annotations

import importlib.util

import pytest

MISSING = [name for name in ("torch", "transformers", "tokenizers", "huggingface_hub") if importlib.util.find_spec(name) is None]
needs_local_engine = pytest.mark.skipif(bool(MISSING), reason=f"the train extra is not installed ({', '.join(MISSING)} missing)")
