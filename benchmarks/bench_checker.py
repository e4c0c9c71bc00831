"""Checker scaling: check time of generated constitutions at N and 4N items.

Run: `python benchmarks/bench_checker.py [--n 500] [--repeat 3]`. Both sizes
are generated (benchmarks/generate.py: principles, rules, priority chains,
conflicts and three deployments, all proportional to N), checked in this
process with every pass (names, types, solver-backed logic, lints) and
timed; the best of `--repeat` runs is kept. The printed ratio is
time(4N) / time(N); linear scaling gives 4, the goal is at most 4.5.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import constitution  # noqa: E402

from cai_lang.api import check_file  # noqa: E402


def best_time(path: Path, repeat: int) -> tuple[float, int]:
    best, findings = float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = check_file(path)
        best = min(best, time.perf_counter() - start)
        findings = len(result.diagnostics)
        assert not result.errors, [d.message for d in result.errors][:3]
    return best, findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        small, large = Path(folder) / "small.const", Path(folder) / "large.const"
        small.write_text(constitution(args.n), encoding="utf-8")
        large.write_text(constitution(4 * args.n), encoding="utf-8")
        check_file(small)  # warm up: parser tables, imports, z3
        t_small, f_small = best_time(small, args.repeat)
        t_large, f_large = best_time(large, args.repeat)
    ratio = t_large / t_small
    print(f"N={args.n}: {t_small:.3f} s ({f_small} findings)")
    print(f"4N={4 * args.n}: {t_large:.3f} s ({f_large} findings)")
    print(f"ratio 4N/N = {ratio:.2f}x (goal <= 4.5x): {'ok' if ratio <= 4.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
