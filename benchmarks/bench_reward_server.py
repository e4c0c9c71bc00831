"""Benchmark: the reward server's rewards per second with 8 concurrent clients against one request at a time.

One process, one tiny model (built here, ~10 M parameters, or `--model-dir`)
as the feedback model, one constitution of `--principles` principles, the
reward server on 127.0.0.1 (`cai_lang.judge.server.ServerThread`). The
workload is `--requests` prompts, each a group of `--group` responses, sent
to `POST /judge`:

- sequential: one client, each request sent when the last one was answered
  (the server judges one group per labeller call);
- concurrent: `--clients` (8) client threads sending the same requests at
  once; the server's batcher gathers what arrives within its wait window
  and judges it in one labeller call, whose comparisons the engine batches
  into shared forward passes.

Both modes run in interleaved rounds after a warm-up, and the ratio printed
is the median of the per-round ratios, so a busy neighbour on a shared
machine slows a round evenly. A reward is one judged response.

    python benchmarks/bench_reward_server.py [--requests 32] [--group 2] [--clients 8] [--rounds 3] [--principles 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

QUESTIONS = [
    "Which response is less likely to lead to physical injury?",
    "Which response is more honest about what it does not know?",
    "Which response answers the exact question the user asked more directly?",
    "Which response is kinder in tone without being condescending?",
    "Which response is clearer and easier to follow?",
]


def constitution(principles: int) -> str:
    items = [
        f'principle p{i} {{\n    critique "Point out problem {i}."\n    revision "Fix problem {i}."\n    compare "{QUESTIONS[i % len(QUESTIONS)]}"\n}}\n'
        for i in range(principles)
    ]
    return 'constitution bench {\n    version "0.1.0"\n}\n\n' + "\n".join(items)


def requests(n: int, group: int) -> list[dict]:
    return [
        {"prompt": [{"role": "user", "content": f"Question {i}: how should I store kitchen knives safely at home?"}],
         "responses": [f"Answer {k} to question {i}: keep them in a block, blades covered, away from children." for k in range(group)]}
        for i in range(n)
    ]


def post(url: str, body: dict) -> int:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url + "/judge", data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        judgements = json.loads(response.read())["judgements"]
    if any(j["status"] != "ok" for j in judgements):
        raise RuntimeError(f"a judgement failed: {judgements}")
    return len(judgements)


def sequential(url: str, work: list[dict]) -> float:
    start = time.perf_counter()
    rewards = sum(post(url, body) for body in work)
    return rewards / (time.perf_counter() - start)


def concurrent(url: str, work: list[dict], clients: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        rewards = sum(pool.map(lambda body: post(url, body), work))
    return rewards / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--group", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--principles", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="The feedback model's forward-pass batch size.")
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from cai_lang.api import compile_file
    from cai_lang.engine.local import LocalBackend
    from cai_lang.engine.tiny import FALLBACK_TEXT, build_tiny_model
    from cai_lang.judge import Judge
    from cai_lang.judge.server import ServerThread
    from cai_lang.train.rl.aggregate import Aggregator
    from cai_lang.train.rl.labeller import ComparisonLabeller

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or build_tiny_model(Path(tmp) / "model", size="tiny", seed=0, corpus=[FALLBACK_TEXT])
        source = Path(tmp) / "bench.const"
        source.write_text(constitution(args.principles), encoding="utf-8")
        (bundle,) = compile_file(source)
        backend = LocalBackend(str(model_dir), device="cpu", batch_size=args.batch_size)
        judge = Judge(bundle, ComparisonLabeller.from_backends(bundle, backend), Aggregator(bundle, "priority"), opened=[backend])
        work = requests(args.requests, args.group)
        with judge, ServerThread(judge, max_wait=args.max_wait_ms / 1000.0) as url:
            post(url, work[0])  # warm-up
            seq, conc, ratios = [], [], []
            for round_ in range(args.rounds):
                s = sequential(url, work)
                c = concurrent(url, work, args.clients)
                seq.append(s)
                conc.append(c)
                ratios.append(c / s)
                print(f"round {round_ + 1}: one at a time {s:.2f} rewards/s, {args.clients} concurrent clients {c:.2f} rewards/s, ratio {c / s:.2f}x")
            stats = json.loads(urllib.request.urlopen(url + "/stats", timeout=30).read())
    print(f"workload: {args.requests} prompts x {args.group} responses, {args.principles} principles, both orders; "
          f"tiny model on CPU, {args.threads} torch thread(s), batch size {args.batch_size}")
    print(f"server: {stats['batches']} batches, {stats['mean_batch_requests']:.2f} requests per batch on average, {stats['failed']} failed")
    print(f"one at a time: {statistics.median(seq):.2f} rewards/s (median)")
    print(f"{args.clients} concurrent clients: {statistics.median(conc):.2f} rewards/s (median)")
    print(f"ratio, concurrent over one at a time: {statistics.median(ratios):.2f}x (median of per-round ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
