"""The interface's pure parts: sampling params, prompts, stop strings, cheap import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from cai_lang.engine.base import SamplingParams, check_pairs, is_chat, truncate_at_stop


def test_sampling_params_defaults_and_help():
    params = SamplingParams()
    assert (params.max_new_tokens, params.temperature, params.top_p, params.top_k) == (128, 1.0, 1.0, 0)
    assert params.do_sample and params.stop == () and params.seed is None
    assert all(f.metadata.get("help") for f in dataclasses.fields(SamplingParams))
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.seed = 1  # type: ignore[misc]


def test_sampling_params_greedy_and_validation():
    assert SamplingParams(do_sample=False).greedy
    assert SamplingParams(temperature=0.0).greedy
    assert not SamplingParams().greedy
    assert SamplingParams(stop="\n").stop == ("\n",)  # type: ignore[arg-type]
    assert SamplingParams(stop=["a", "b"]).stop == ("a", "b")  # type: ignore[arg-type]
    hash(SamplingParams(stop=["a"]))  # type: ignore[arg-type]
    for bad in (dict(max_new_tokens=0), dict(temperature=-1), dict(top_p=0), dict(top_k=-1), dict(stop=("",))):
        with pytest.raises(ValueError):
            SamplingParams(**bad)


@pytest.mark.parametrize(
    "text, stop, expected",
    [
        ("hello world", ("o",), ("hell", True)),
        ("hello world", ("world", "lo"), ("hel", True)),  # the earliest match wins, not the first listed
        ("hello", ("x",), ("hello", False)),
        ("hello", (), ("hello", False)),
        ("a\n\nb", ("\n\n",), ("a", True)),
    ],
)
def test_truncate_at_stop(text, stop, expected):
    assert truncate_at_stop(text, stop) == expected


def test_prompt_dialects():
    assert not is_chat("plain text")
    assert is_chat([{"role": "user", "content": "hi"}])
    with pytest.raises(ValueError):
        is_chat([])
    with pytest.raises(ValueError):
        is_chat([{"role": "user"}])
    with pytest.raises(TypeError):
        is_chat(42)  # type: ignore[arg-type]


def test_check_pairs():
    check_pairs(["a", "b"], [" x", " y"])
    with pytest.raises(ValueError):
        check_pairs(["a"], [" x", " y"])
    with pytest.raises(TypeError):
        check_pairs(["a"], " x")  # type: ignore[arg-type]


def test_importing_the_engine_does_not_import_torch():
    code = (
        "import sys, cai_lang.engine as e; e.SamplingParams(); "
        "heavy = [m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
