"""Fixtures for the engine tests: one tiny model per session, a stub server per test."""

from __future__ import annotations

import pytest
from engine_extra import MISSING
from openai_stub import start_stub


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    if MISSING:
        pytest.skip(f"the train extra is not installed ({', '.join(MISSING)} missing)")
    from cai_lang.engine.tiny import FALLBACK_TEXT, build_tiny_model

    # A fixed corpus: prompt sets added to the package later must not change
    # the model these tests decode with.
    out = tmp_path_factory.mktemp("tiny") / "model"
    return build_tiny_model(out, size="tiny", seed=0, corpus=[FALLBACK_TEXT])


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir):
    from cai_lang.engine.local import LocalBackend

    return LocalBackend(str(tiny_model_dir), device="cpu", batch_size=4)


@pytest.fixture
def stub():
    stub, server = start_stub()
    yield stub
    server.shutdown()
    server.server_close()
