"""The reproducibility switches read from the environment: nothing happens (torch not even imported)
without them; with them, torch's deterministic mode and thread count are set; a bad thread count is a
clear EngineError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cai_lang.engine.base import EngineError
from cai_lang.engine.determinism import apply_from_env


def test_without_the_variables_nothing_is_imported_or_changed():
    code = "import sys; from cai_lang.engine.determinism import apply_from_env; print(apply_from_env({}), 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["{}", "False"]


def test_the_switches_set_torch_and_are_reported():
    torch = pytest.importorskip("torch")
    before_mode, before_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    try:
        applied = apply_from_env({"CAIC_DETERMINISTIC": "1", "CAIC_THREADS": "1"})
        assert applied == {"deterministic_algorithms": True, "threads": 1}
        assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
    finally:
        torch.use_deterministic_algorithms(before_mode)
        torch.set_num_threads(before_threads)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_thread_count_is_an_engine_error(value):
    pytest.importorskip("torch")
    with pytest.raises(EngineError, match="CAIC_THREADS"):
        apply_from_env({"CAIC_THREADS": value})
