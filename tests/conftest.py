"""Shared test settings: no test may reach the Hugging Face Hub, and torch
runs one thread per test process (the suite runs on two processes over two
cores; two threads each would only make them wait on each other)."""

import importlib.util
import os

import pytest

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The suite's one tiny model (random weights), built once per session for the engine and train tests.

    The corpus is fixed, so prompt sets added to the package later do not
    change the model the tests decode with."""
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the train extra is not installed ({', '.join(missing)} missing)")
    from cai_lang.engine.tiny import FALLBACK_TEXT, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", size="tiny", seed=0, corpus=[FALLBACK_TEXT])
