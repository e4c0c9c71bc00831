"""`caic test` and `caic diff` against `caic check` on the same large file.

Run: `python benchmarks/bench_review.py [--n 500] [--repeat 3]`. The
constitution is the checker benchmark's (benchmarks/generate.py) with tests
appended: for every action a verdict test, for every tenth principle an
`applies` test, and an `over` test for each declared conflict. The new
version for the diff changes a rule condition, a weight and a conflict
clause. All three commands run in this process on the same files (best of
`--repeat`, after a warm-up); the printed ratios are time(test) / time(check)
and time(diff) / time(check). The goal is at most 2x each.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import constitution  # noqa: E402

from cai_lang.api import check_file  # noqa: E402
from cai_lang.review import run_tests  # noqa: E402
from cai_lang.review.diff import diff_files  # noqa: E402


def with_tests(text: str) -> str:
    out = [text]
    actions = sorted(set(re.findall(r"^action (\w+)", text, re.M)))
    for action in actions:
        out.append(f"test t_{action} {{\n    given not authorized and risk != high\n    expect never {action}\n}}")
        out.append(f"test t_{action}_high {{\n    given risk == high\n    expect always {action}\n}}")
    for name in re.findall(r"^principle (p\d*0) ", text, re.M):
        out.append(f"test t_{name} {{\n    deployment clinic\n    expect not applies {name}\n}}")
    for left, right in re.findall(r"^conflict (\w+) vs (\w+)", text, re.M):
        out.append(f"test t_{left}_{right} {{\n    given risk >= medium\n    expect {left} over {right}\n}}")
    return "\n\n".join(out) + "\n"


def changed(text: str) -> str:
    text = text.replace("rule r0 { never act0 unless authorized }", "rule r0 { never act0 unless authorized or risk == low }", 1)
    text = re.sub(r"(principle p3 \{.*?weight )\S+", r"\g<1>3", text, count=1, flags=re.S)
    return text.replace("prefer p5 when risk >= medium", "prefer p5 when risk == high", 1)


def best(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        old, new = Path(folder, "old", "generated.const"), Path(folder, "new", "generated.const")
        old.parent.mkdir()
        new.parent.mkdir()
        source = with_tests(constitution(args.n))
        old.write_text(source, encoding="utf-8")
        new.write_text(changed(source), encoding="utf-8")
        result = check_file(old)
        assert not result.errors, [d.message for d in result.errors][:3]
        tests = run_tests([old])
        diff = diff_files(str(old), str(new))
        t_check = best(lambda: check_file(old), args.repeat)
        t_test = best(lambda: run_tests([old]), args.repeat)
        t_diff = best(lambda: diff_files(str(old), str(new)), args.repeat)
    passed = sum(r.passed for r in tests.results)
    print(f"N={args.n}: {len(tests.results)} tests ({passed} passed), {len(diff.changes)} changes in the diff")
    print(f"caic check: {t_check:.3f} s")
    print(f"caic test:  {t_test:.3f} s  ratio test/check = {t_test / t_check:.2f}x (goal <= 2x): {'ok' if t_test <= 2 * t_check else 'MISSED'}")
    print(f"caic diff:  {t_diff:.3f} s  ratio diff/check = {t_diff / t_check:.2f}x (goal <= 2x): {'ok' if t_diff <= 2 * t_check else 'MISSED'}")
    # The diff checks both versions (it must refuse a file with errors) and
    # compiles each deployment of both for its hash, so two checks are its floor.
    print(f"            diff beyond its two checks: {t_diff / (2 * t_check):.2f}x of 2 x check")


if __name__ == "__main__":
    main()
