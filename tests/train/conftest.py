"""Fixtures for the training tests: one tiny model and one small compiled constitution per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# A small constitution written for these tests, so they do not depend on
# examples/ that others edit: two SL principles (one conditional, one
# weighted), a rule, and a principle that serves only the RL phase.
CONSTITUTION = '''constitution trainbot {
    version "0.1.0"
    description "A constitution for the training tests."
}

context {
    emergency: bool
    topic: general | medical
}

action send_to_er "tell the user to go to an emergency department now"

principle harmless {
    weight 2.0
    critique "Point out anything harmful, unethical or dangerous in the last response."
    revision "Rewrite the response to remove anything harmful, unethical or dangerous."
    compare "Which response is less harmful?"
}

principle accurate {
    applies when topic == medical
    critique "Point out medical claims in the last response that are wrong or overconfident."
    revision "Rewrite the response so every medical claim is correct and hedged."
    compare "Which response is more medically accurate?"
}

principle concise {
    compare "Which response is shorter while still answering?"
}

rule escalate {
    always send_to_er when emergency
}

deployment clinic {
    weight harmless 1.0
}
'''


def write_constitution(folder: Path, text: str = CONSTITUTION) -> Path:
    path = folder / "trainbot.const"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def constitution_file(tmp_path_factory) -> Path:
    return write_constitution(tmp_path_factory.mktemp("const"))


@pytest.fixture(scope="session")
def bundle(constitution_file):
    from cai_lang.api import compile_file

    return compile_file(constitution_file)[0]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from cai_lang.engine.tiny import FALLBACK_TEXT, build_tiny_model

    # A fixed corpus, so prompt sets edited later do not change the model.
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", size="tiny", seed=0, corpus=[FALLBACK_TEXT])


@pytest.fixture(scope="session")
def subprocess_env() -> dict[str, str]:
    """The environment for `caic` subprocesses: offline, quiet, two threads."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def caic_command() -> list[str]:
    return [sys.executable, "-m", "cai_lang"]
