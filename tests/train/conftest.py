"""Fixtures for the training tests: one tiny model and one small compiled constitution per session.

Without the train extra (torch, transformers, trl) these tests are skipped, not errored.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from train_testkit import write_constitution

MISSING = [name for name in ("torch", "transformers", "trl", "datasets", "accelerate") if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="session", autouse=True)
def train_extra():
    """Skip every test here when the train extra is missing (a session fixture, so it runs before the model fixtures)."""
    if MISSING:
        pytest.skip(f"the train extra is not installed ({', '.join(MISSING)} missing; pip install -e '.[train]')")


@pytest.fixture(scope="session")
def constitution_file(tmp_path_factory) -> Path:
    return write_constitution(tmp_path_factory.mktemp("const"))


@pytest.fixture(scope="session")
def bundle(constitution_file):
    from cai_lang.api import compile_file

    return compile_file(constitution_file)[0]


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """The environment for `caic` subprocesses: offline, quiet, two threads."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env
