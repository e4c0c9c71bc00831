"""Shared pieces of the review page tests: start `caic review` as a subprocess (always stopped), raw HTTP requests, the refusals."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
from urllib.parse import urlsplit

from train_testkit import caic_command


@contextlib.contextmanager
def review_server(run, env, reviewer: str = "alice"):
    """(URL with token, base URL, token) of a `caic review` of `run`, stopped on exit."""
    server = subprocess.Popen([*caic_command(), "review", str(run), "--reviewer", reviewer], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "?token=" in url, (url, server.stderr.read() if server.poll() is not None else "")
        yield url, url.split("/?", 1)[0], url.split("token=", 1)[1]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def request(base: str, method: str = "GET", path: str = "/", headers: dict | None = None, body: bytes | None = None) -> tuple[int, dict, bytes]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def check_refusals(base: str, token: str, run, pair_id: str) -> None:
    """No token, a path outside the run folder, a cross-site write: each refused, and nothing written."""
    for path in ("/", "/static/review.js", "/run/rl_pairs.jsonl", f"/?token={'x' * len(token)}"):
        assert request(base, path=path)[0] == 403, path
    auth = {"X-Review-Token": token}
    assert request(base, path="/run/rl_pairs.jsonl", headers=auth)[0] == 200
    for path in ("/run/../secret.txt", "/run/..%2fsecret.txt", "/run/%2e%2e/secret.txt", "/run/%2e%2e%2fsecret.txt", "/run//etc/passwd",
                 "/static/../app.py", "/static/..%2fapp.py"):
        status, _, body = request(base, path=path, headers=auth)
        assert status in (403, 404) and b"outside" not in body, path
    decision = json.dumps({"pair_id": pair_id, "decision": "a"}).encode()
    json_auth = {**auth, "Content-Type": "application/json"}
    assert request(base, "POST", "/api/decision", {**json_auth, "Origin": "http://evil.example"}, decision)[0] == 403
    assert request(base, "POST", "/api/decision", {**json_auth, "Sec-Fetch-Site": "cross-site"}, decision)[0] == 403
    assert request(base, "POST", "/api/decision", {"Cookie": f"caic_review_token={token}", "Content-Type": "application/json"}, decision)[0] == 403
    assert request(base, "POST", "/api/decision", {**auth, "Content-Type": "application/x-www-form-urlencoded"}, decision)[0] == 403
    assert request(base, "POST", "/api/decision", {**json_auth, "Host": "evil.example"}, decision)[0] == 400  # DNS rebinding: wrong Host
    assert not (run / "review_decisions.jsonl").exists()
