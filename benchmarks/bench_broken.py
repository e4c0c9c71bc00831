"""Error-recovery scaling: `caic check` on 10 KB, 100 KB and 1 MB of broken rules.

Run: `python benchmarks/bench_broken.py [--sizes 10000,100000,1000000]`.
Each file repeats a small block of declarations that each hold a syntax
error (a rule missing its condition, a principle missing its weight value,
an unclosed brace), so the number of errors grows with the size. Every size
is checked by a fresh `python -m cai_lang check` process; its wall time and
peak resident memory (from `wait4`) are printed, with the growth ratio of
each against the previous size. Linear recovery gives about 10x per 10x of
input; the goal is at most 12x (the old recovery copied and re-parsed the
file per error: 68 KB took 12.9 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLOCK = (
    "rule r{i} {{\n    never act_{i} unless\n}}\n"
    'principle p{i} {{\n    critique "Point out the problem."\n    weight\n}}\n'
    "context {{\n    flag_{i}: bool\n"
)


def broken_rules(size: int) -> str:
    parts, total, index = [], 0, 0
    while total < size:
        part = BLOCK.format(i=index)
        parts.append(part)
        total += len(part)
        index += 1
    return "".join(parts)


def measure(path: Path) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, exit status) of one `caic check` process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "cai_lang", "check", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated file sizes in bytes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    previous: tuple[float, int] | None = None
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = Path(folder) / f"broken_{size}.const"
            path.write_text(broken_rules(size), encoding="utf-8")
            seconds, peak, status = measure(path)
            line = f"{size:>9} bytes: {seconds:7.2f} s, peak {peak / 1024:7.1f} MiB, exit {status}"
            if previous is not None:
                time_ratio, memory_ratio = seconds / previous[0], peak / previous[1]
                worst = max(worst, time_ratio)
                line += f"  (x{time_ratio:.1f} time, x{memory_ratio:.1f} memory)"
            print(line)
            previous = (seconds, peak)
    print(f"worst time growth per step: x{worst:.1f} (goal <= 12 per 10x)")


if __name__ == "__main__":
    main()
