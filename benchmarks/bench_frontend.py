"""Front-end speed, two ratios measured in one run.

(a) start-up: wall time of `caic check` on a small constitution, as a
    subprocess, over `python -c "import lark, pydantic"` (the floor any
    Python checker built on those two libraries pays). Runs alternate and
    the median of `--runs` is used for each. Goal <= 1.5x.
(b) parse + lower: turning a large generated file into IR (with spans and
    every field check) over a bare Lark LALR parse of the same text with the
    same grammar (tree building only). Best of `--repeat`. Goal <= 2x.
Run: `python benchmarks/bench_frontend.py`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import constitution  # noqa: E402

SMALL = """
constitution support { version "1.0" }
context { risk: low | medium | high }
principle courteous {
    critique "Point out curt or dismissive phrasing in the reply."
    revision "Rephrase the reply so every sentence is courteous."
    compare "Which reply is more courteous to the customer?"
    applies when risk <= medium
}
"""


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=False, capture_output=True)
    return time.perf_counter() - start


def startup(runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "support.const"
        path.write_text(SMALL, encoding="utf-8")
        caic = [sys.executable, "-m", "cai_lang", "check", str(path)]
        floor = [sys.executable, "-c", "import lark, pydantic"]
        assert subprocess.run(caic, capture_output=True).returncode == 0
        ours, base = [], []
        for _ in range(runs):
            ours.append(wall(caic))
            base.append(wall(floor))
    return statistics.median(ours), statistics.median(base)


def best(fn, repeat: int) -> float:
    result = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        value = fn()
        result = min(result, time.perf_counter() - start)
        del value
    return result


def parsing(n: int, repeat: int) -> tuple[float, float, int]:
    from lark import Lark

    from cai_lang.resources import grammar_file
    from cai_lang.span import SourceFile
    from cai_lang.syntax.module import parse_module

    text = constitution(n)
    bare = Lark.open(str(grammar_file()), parser="lalr", lexer="basic")
    parse_module(SourceFile("warm.const", "context { a: bool }"))
    ours = best(lambda: parse_module(SourceFile("big.const", text)), repeat)
    baseline = best(lambda: bare.parse(text), repeat)
    return ours, baseline, len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--n", type=int, default=4000, help="principles in the large generated file")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ours, base = startup(args.runs)
    print(f"(a) start-up: caic check {ours * 1000:.0f} ms, import lark+pydantic {base * 1000:.0f} ms")
    print(f"    ratio {ours / base:.2f}x (goal <= 1.5x): {'ok' if ours / base <= 1.5 else 'MISSED'}")
    lowered, bare, size = parsing(args.n, args.repeat)
    print(f"(b) {size / 1e6:.1f} MB: parse+lower {lowered:.3f} s, bare Lark parse {bare:.3f} s")
    print(f"    ratio {lowered / bare:.2f}x (goal <= 2x): {'ok' if lowered / bare <= 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
