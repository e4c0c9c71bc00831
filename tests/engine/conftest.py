"""Fixtures for the engine tests: one tiny model per session, a stub server per test."""

from __future__ import annotations

import pytest
from engine_extra import MISSING
from openai_stub import start_stub


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model):
    """The suite's one tiny model (`tests/conftest.py`)."""
    if MISSING:
        pytest.skip(f"the train extra is not installed ({', '.join(MISSING)} missing)")
    return tiny_model


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
