"""Growth with file size: `caic check` and `caic diff` at 1 MB and 5 MB, and the language server's first diagnostics.

Run: `python benchmarks/bench_scaling.py [--small-mb 1] [--large-mb 5] [--no-lsp]`.
Valid constitutions of about 1 MB and 5 MB are generated
(benchmarks/generate.py: principles, rules, priority chains, conflicts, three
deployments, all proportional to the size); for the diff, a second version
changes a rule condition, a weight and a conflict clause
(bench_review.changed). Check and diff run in this process after a warm-up,
and their CPU time is measured (`time.process_time`: the shared machines
this runs on make wall-clock time swing with other load). Printed: the
ratio large/small for each; linear growth gives 5 for 5x the size, the goal
is at most 6. Then the language server (`caic lsp`, a subprocess) is sent
the 5 MB document with `didOpen`, and the time until it publishes that
document's diagnostics is compared with `caic check` of the same file as a
subprocess: both wall-clock (from the request to the answer) and CPU of
the process (read from /proc on Linux), as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_review import changed  # noqa: E402
from generate import constitution  # noqa: E402

from cai_lang.api import check_file  # noqa: E402
from cai_lang.review.diff import diff_files  # noqa: E402

BYTES_PER_ITEM = 482  # what generate.constitution writes per principle, on average
REPO = Path(__file__).resolve().parent.parent


def cpu(run) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def write_versions(folder: Path, megabytes: float) -> tuple[Path, Path]:
    text = constitution(max(10, round(megabytes * 1_000_000 / BYTES_PER_ITEM)))
    old, new = folder / f"old{megabytes:g}" / "c.const", folder / f"new{megabytes:g}" / "c.const"
    for path, body in ((old, text), (new, changed(text))):
        path.parent.mkdir(parents=True)
        path.write_text(body, encoding="utf-8")
    return old, new


def _process_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _frame(payload: dict) -> bytes:
    body = json.dumps(payload).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_message(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the language server closed its output")
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(stream.read(length))


def lsp_first_diagnostics(path: Path) -> tuple[float, float | None]:
    """(wall seconds, server CPU seconds) from `didOpen` of `path` to its published diagnostics."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "cai_lang", "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env, cwd=path.parent)
    try:
        server.stdin.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                   "params": {"processId": None, "rootUri": path.parent.as_uri(), "capabilities": {}}}))
        server.stdin.flush()
        while _read_message(server.stdout).get("id") != 1:
            pass
        server.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8")
        cpu_before = _process_cpu(server.pid)
        start = time.perf_counter()
        server.stdin.write(_frame({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                                   "params": {"textDocument": {"uri": uri, "languageId": "caic", "version": 1, "text": text}}}))
        server.stdin.flush()
        while True:
            message = _read_message(server.stdout)
            if message.get("method") == "textDocument/publishDiagnostics" and message["params"]["uri"] == uri:
                wall = time.perf_counter() - start
                cpu_after = _process_cpu(server.pid)
                return wall, (cpu_after - cpu_before) if cpu_before is not None and cpu_after is not None else None
    finally:
        server.kill()
        server.wait(timeout=60)


def check_subprocess(path: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `caic check FILE` as its own process, start-up included."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = os.times()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cai_lang", "check", str(path)], capture_output=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small-mb", type=float, default=1.0)
    parser.add_argument("--large-mb", type=float, default=5.0)
    parser.add_argument("--no-lsp", action="store_true", help="Skip the language server measurement.")
    args = parser.parse_args()
    factor = args.large_mb / args.small_mb
    with tempfile.TemporaryDirectory() as folder:
        small_old, small_new = write_versions(Path(folder), args.small_mb)
        large_old, large_new = write_versions(Path(folder), args.large_mb)
        result = check_file(small_old)  # warm up: parser tables, imports, z3
        assert not result.errors, [d.message for d in result.errors][:3]
        times = {}
        for label, old, new in (("small", small_old, small_new), ("large", large_old, large_new)):
            times["check", label] = cpu(lambda: check_file(old))
            times["diff", label] = cpu(lambda: diff_files(str(old), str(new)))
        sizes = {label: path.stat().st_size for label, path in (("small", small_old), ("large", large_old))}
        print(f"sizes: {sizes['small'] / 1e6:.2f} MB and {sizes['large'] / 1e6:.2f} MB ({sizes['large'] / sizes['small']:.2f}x)")
        for command in ("check", "diff"):
            small, large = times[command, "small"], times[command, "large"]
            ratio = large / small
            print(f"caic {command}: {small:.2f} s CPU at {args.small_mb:g} MB, {large:.2f} s at {args.large_mb:g} MB: "
                  f"ratio {ratio:.2f}x per {factor:g}x (goal <= {factor + 1:g}x): {'ok' if ratio <= factor + 1 else 'MISSED'}")
        if not args.no_lsp:
            check_wall, check_cpu = check_subprocess(large_old)
            lsp_wall, lsp_cpu = lsp_first_diagnostics(large_old)
            print(f"caic check {args.large_mb:g} MB as a process: {check_wall:.2f} s wall, {check_cpu:.2f} s CPU")
            print(f"language server, didOpen to first diagnostics: {lsp_wall:.2f} s wall"
                  + (f", {lsp_cpu:.2f} s CPU" if lsp_cpu is not None else ""))
            print(f"ratio LSP / check: {lsp_wall / check_wall:.2f}x wall" + (f", {lsp_cpu / check_cpu:.2f}x CPU" if lsp_cpu is not None else ""))


if __name__ == "__main__":
    main()
