"""The fuzz corpus (issue 16): mutated `.const` inputs through check (every format),
fmt twice and compile must never raise and never format unstably.

`test_fuzz_regressions` replays every input that ever failed
(tests/fixtures/fuzz/, written by scripts/fuzz.py); the quick seeded run
keeps a small budget in the default loop and a ~60 s one under `-m slow`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "fuzz"


def _fuzzer():
    spec = importlib.util.spec_from_file_location("caic_fuzz", REPO / "scripts" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("caic_fuzz", module)
    spec.loader.exec_module(module)
    return module


fuzzer = _fuzzer()


def _report(summary) -> str:
    return "\n\n".join(trace for _, trace in summary.failures[:3])


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.const")), ids=lambda p: p.name)
def test_fuzz_regressions(path: Path, tmp_path: Path) -> None:
    summary = fuzzer.Summary()
    text = path.read_bytes().decode("utf-8", errors="surrogatepass")
    assert fuzzer.run_one(text, summary, tmp_path) is None, _report(summary)


def test_fuzz_corpus_has_regressions() -> None:
    # The folder holds every input that ever failed; it must not be emptied by accident.
    assert len(list(FIXTURES.glob("*.const"))) >= 1


def test_mutations_are_seeded() -> None:
    import random

    seeds = fuzzer.seed_texts()
    assert len(seeds) >= 10
    first = [fuzzer.mutate(seeds[0], random.Random(7), seeds) for _ in range(5)]
    second = [fuzzer.mutate(seeds[0], random.Random(7), seeds) for _ in range(5)]
    assert first == second


def test_quick_fuzz(tmp_path: Path) -> None:
    summary = fuzzer.fuzz(150, seed=16, save_to=None, folder=tmp_path)
    assert summary.inputs == 150
    assert summary.uncaught == 0 and summary.fmt_failures == 0, _report(summary)


@pytest.mark.slow
def test_fuzz_sixty_seconds(tmp_path: Path) -> None:
    summary = fuzzer.fuzz(1_000_000, seed=2016, save_to=None, budget=60, folder=tmp_path)
    assert summary.inputs > 0
    assert summary.uncaught == 0 and summary.fmt_failures == 0, _report(summary)
