"""The reward server behind `caic serve reward`: a `Judge` over HTTP (FastAPI on uvicorn).

Endpoints (JSON in and out; docs/distributed.md has the full protocol):

- `POST /judge`: caic's own protocol. One prompt (`prompt`, text or chat
  turns), its `responses`, optional `context` labels and `reference`;
  answers one judgement per response (reward or failure, per-item verdicts,
  detector results, content hash, feedback models).
- `POST /openrlhf`: OpenRLHF's remote reward-model protocol
  (`--reward.remote_url`): `query` (prompt plus response, as OpenRLHF decodes
  them), `prompts`, `labels`; answers `rewards`, `scores` and `extra_logs`.
  A label holding caic's JSON metadata (what `caic export openrlhf` writes)
  names the conversation and context; any other label is a reference
  answer. When a judgement fails the answer is an error (HTTP 422), never a
  reward of 0.
- `GET /health`, `GET /info` (bundle hash, items, feedback models) and
  `GET /stats` (throughput: rewards per second, batch sizes, failures).

Concurrent requests are batched dynamically: a worker thread takes the
first waiting request, gathers whatever others arrive within `max_wait`
seconds (up to `max_batch` responses), and judges them in one labeller
call, whose comparisons the engine batches into forward passes. Request
bodies are read up to `max_body` bytes (413 beyond), and every field is
bounded (422 with the reason).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (`Request`) at run time.

import asyncio
import json
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from cai_lang.judge.core import Judge
from cai_lang.judge.protocol import RequestError, parse_judge, parse_openrlhf
from cai_lang.train.rl.rewards import GroupRequest, Judgement

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Stats:
    """What the server has done, for `/stats` and the shutdown line."""

    started: float = field(default_factory=time.monotonic)
    first: float | None = None
    last: float | None = None
    requests: int = 0
    batches: int = 0
    responses: int = 0
    failed: int = 0
    busy: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, began: float, groups: list[list[Judgement]], requests: int) -> None:
        ended = time.monotonic()
        with self.lock:
            self.first = began if self.first is None else self.first
            self.last = ended
            self.requests += requests
            self.batches += 1
            self.responses += sum(len(g) for g in groups)
            self.failed += sum(not j.ok for g in groups for j in g)
            self.busy += ended - began

    def to_dict(self) -> dict:
        with self.lock:
            span = (self.last - self.first) if self.first is not None and self.last is not None else 0.0
            return {
                "requests": self.requests,
                "batches": self.batches,
                "responses": self.responses,
                "failed": self.failed,
                "mean_batch_requests": self.requests / self.batches if self.batches else 0.0,
                "rewards_per_second": self.responses / span if span > 0 else 0.0,
                "busy_seconds": self.busy,
                "uptime_seconds": time.monotonic() - self.started,
            }


class Batcher:
    """Gathers concurrent requests and judges them together on one worker thread."""

    def __init__(self, judge: Judge, *, max_batch: int = 64, max_wait: float = 0.002):
        self.judge = judge
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.stats = Stats()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="caic-reward-batcher", daemon=True)
        self._thread.start()

    def submit(self, groups: list[GroupRequest]) -> Future:
        future: Future = Future()
        self._queue.put((groups, future))
        return future

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                break
            waiting = [first]
            size = sum(len(g.responses) for g in first[0])
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._stop.set()
                    break
                waiting.append(item)
                size += sum(len(g.responses) for g in item[0])
            self._judge(waiting)
        # Anything still queued at shutdown is answered, not left hanging.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].set_exception(RuntimeError("the server is shutting down"))

    def _judge(self, waiting: list) -> None:
        groups = [g for item, _ in waiting for g in item]
        began = time.monotonic()
        try:
            results = self.judge.score_many(groups)
        except Exception as err:  # noqa: BLE001 - passed to every waiting request
            for _, future in waiting:
                future.set_exception(err)
            return
        self.stats.record(began, results, len(waiting))
        at = 0
        for item, future in waiting:
            future.set_result(results[at : at + len(item)])
            at += len(item)


# ---------------------------------------------------------------- the app


def create_app(judge: Judge, *, max_batch: int = 64, max_wait: float = 0.002, max_body: int = 4 << 20):
    """The FastAPI application serving `judge`; the batcher starts and stops with it."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    batcher_box: dict[str, Batcher] = {}

    @asynccontextmanager
    async def lifespan(app):
        batcher_box["b"] = Batcher(judge, max_batch=max_batch, max_wait=max_wait)
        app.state.batcher = batcher_box["b"]
        try:
            yield
        finally:
            batcher_box["b"].close()

    app = FastAPI(title="caic reward server", lifespan=lifespan)

    async def read_json(req: Request) -> Any:
        declared = req.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise RequestError(f"the body is {declared} bytes; the most this server takes is {max_body}", 413)
        chunks, size = [], 0
        async for chunk in req.stream():
            size += len(chunk)
            if size > max_body:
                raise RequestError(f"the body is over {max_body} bytes, the most this server takes", 413)
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RequestError(f"the body is not JSON: {err}", 400) from None

    async def judged(groups: list[GroupRequest]) -> list[list[Judgement]]:
        return await asyncio.wrap_future(batcher_box["b"].submit(groups))

    @app.exception_handler(RequestError)
    async def refused(_req, err: RequestError):
        return JSONResponse({"error": str(err)}, status_code=err.status)

    @app.get("/health")
    async def health():
        return {"status": "ok", "content_hash": judge.bundle.content_hash}

    @app.get("/info")
    async def info():
        return judge.info()

    @app.get("/stats")
    async def stats():
        return batcher_box["b"].stats.to_dict()

    @app.post("/judge")
    async def judge_one(req: Request):
        body = await read_json(req)
        (results,) = await judged([parse_judge(body)])
        with_labels = bool(body.get("labels"))
        return {**judge.info(), "judgements": [j.to_dict(with_labels=with_labels) for j in results]}

    @app.post("/openrlhf")
    async def openrlhf(req: Request):
        groups, where = parse_openrlhf(await read_json(req))
        results = await judged(groups)
        picked = [results[g][k] for g, k in where]
        failed = [(i, j.error) for i, j in enumerate(picked) if not j.ok]
        if failed:
            return JSONResponse({"error": f"{len(failed)} of {len(picked)} queries could not be judged: query[{failed[0][0]}]: "
                                 f"{failed[0][1]}", "failed": [i for i, _ in failed]}, status_code=422)
        rewards = [j.reward for j in picked]
        return {"rewards": rewards, "scores": rewards,
                "extra_logs": {"caic_content_hash": judge.bundle.content_hash,
                               **{f"caic/{item}": [j.items.get(item) for j in picked] for item in sorted({k for j in picked for k in j.items})}}}

    return app


def serve(judge: Judge, *, host: str = "127.0.0.1", port: int = 8100, max_batch: int = 64, max_wait: float = 0.002,
          say=print) -> dict:
    """Run the server until interrupted; returns the final stats."""
    import uvicorn

    app = create_app(judge, max_batch=max_batch, max_wait=max_wait)
    if host not in LOOPBACK:
        say(f"warning: serving on {host}, not loopback: the server has no authentication; put it on a private network")
    say(f"caic reward server for {judge.bundle.constitution.name} ({judge.bundle.content_hash[:12]}) on http://{host}:{port} "
        "(POST /judge, POST /openrlhf, GET /stats)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return app.state.batcher.stats.to_dict() if hasattr(app.state, "batcher") else {}


class AppThread:
    """An ASGI app served on a background thread, for tests and benchmarks: `with AppThread(app) as url: ...`.

    It listens on 127.0.0.1 at a free port and is always stopped on exit.
    """

    def __init__(self, app, *, startup_timeout: float = 60.0):
        import uvicorn

        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
        self.startup_timeout = startup_timeout
        self._thread = threading.Thread(target=self.server.run, name="caic-reward-server", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the reward server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)


class ServerThread(AppThread):
    """The reward server for `judge` on a background thread: `with ServerThread(judge) as url: ...`."""

    def __init__(self, judge: Judge, *, max_batch: int = 64, max_wait: float = 0.002, max_body: int = 4 << 20):
        super().__init__(create_app(judge, max_batch=max_batch, max_wait=max_wait, max_body=max_body))
