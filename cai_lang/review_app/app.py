"""The review page: the least certain pairs first, a person's decision appended to the run folder, nothing served from elsewhere.

Security, since the page shows untrusted model text and writes to disk:

- it listens on 127.0.0.1 unless told otherwise, and answers only requests
  for that host (no DNS rebinding);
- every request needs the random token printed with the URL (in the query
  once, then a SameSite=Strict cookie); without it the answer is 403;
- a write needs the token in a header as well, JSON, and no sign of another
  site (`Origin` must be this server's, `Sec-Fetch-Site` same-origin), so a
  page elsewhere cannot post a decision;
- model text reaches the page only through Jinja2 with autoescaping, and a
  Content-Security-Policy allows scripts only from this server;
- files are served from the run folder only (`/run/PATH`, resolved and
  checked to lie inside it) and from the package's own static folder.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cai_lang.trust.decisions import CHOICES, DECISIONS, LABELS, PAIRS, DecisionLog, ai_view, pair_hash, read_jsonl, review_order

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css"}
COOKIE = "caic_review_token"
HEADER = "x-review-token"
NOTE_LIMIT = 4000
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


class ReviewState:
    """The run folder's pairs and labels (read once) and its decisions file (read on every request, so reviewing resumes)."""

    def __init__(self, run_dir: Path, reviewer: str):
        self.run_dir = Path(run_dir).resolve()
        self.reviewer = reviewer
        self.pairs = {str(p["id"]): p for p in read_jsonl(self.run_dir / PAIRS)}
        if not self.pairs:
            raise ValueError(f"{self.run_dir}: no {PAIRS} to review (run `caic generate rl` or `caic train --phase rl` there first)")
        self.labels = {str(row.get("pair_id", row.get("id"))): row for row in read_jsonl(self.run_dir / LABELS)}
        self.order = review_order(list(self.pairs.values()), self.labels)
        self.log = DecisionLog(self.run_dir / DECISIONS)

    def next_pair(self) -> str | None:
        done = self.log.done_by(self.reviewer)
        return next((pid for pid in self.order if pid not in done), None)

    def view(self, pair_id: str) -> dict[str, Any]:
        pair, label = self.pairs[pair_id], self.labels.get(pair_id)
        details = (label or {}).get("details") or {}
        verdicts = [
            {"item": item, "p_a": float(p), "exact": item in ((label or {}).get("exact") or ()),
             "orders": [details.get(item, {}).get("p_a_first"), details.get(item, {}).get("p_a_second")],
             "models": details.get(item, {}).get("per_model") or []}
            for item, p in ((label or {}).get("items") or {}).items()
        ]
        return {"id": pair_id, "conversation": pair.get("conversation") or [], "response_a": pair["response_a"],
                "response_b": pair["response_b"], "label": ai_view(label), "verdicts": verdicts,
                "decided_by": (label or {}).get("decided_by"), "content_hash": pair_hash(pair)}


def _templates():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("cai_lang.review_app", "templates"), autoescape=True, undefined=StrictUndefined)


def _secure(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(run_dir: Path, token: str, reviewer: str, *, port: int, host: str = "127.0.0.1") -> Starlette:
    """The review app for one run folder and reviewer; `token` guards every request."""
    state = ReviewState(run_dir, reviewer)
    env = _templates()
    origins = {f"http://{h}:{port}" for h in (host, "127.0.0.1", "localhost")}

    def authorised(request: Request) -> bool:
        given = request.query_params.get("token") or request.headers.get(HEADER) or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), token.encode())

    def cross_site(request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None and origin not in origins:
            return f"origin {origin} is not this page"
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"a {site} request"
        if not hmac.compare_digest((request.headers.get(HEADER) or "").encode(), token.encode()):
            return "a write needs the token in its header"
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return "a write is JSON"
        return None

    async def guard(scope, receive, send, inner):
        request = Request(scope, receive)
        if not authorised(request):
            return await _secure(PlainTextResponse("forbidden: this page needs the token printed by `caic review`", 403))(scope, receive, send)
        return await inner(scope, receive, send)

    async def page(request: Request) -> Response:
        wanted = request.query_params.get("pair")
        if request.query_params.get("token"):
            # The token leaves the address bar: a cookie carries it from here on.
            response = _secure(RedirectResponse("/" + (f"?{urlencode({'pair': wanted})}" if wanted else ""), 303))
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
            return response
        pair_id = wanted or state.next_pair()
        if pair_id is not None and pair_id not in state.pairs:
            return _secure(PlainTextResponse("no such pair", 404))
        html = env.get_template("review.html.j2").render(
            pair=state.view(pair_id) if pair_id else None, reviewer=reviewer, token=token, done=len(state.log.done_by(reviewer)),
            total=len(state.order), run=state.run_dir.name, choices=CHOICES)
        return _secure(HTMLResponse(html))

    async def decide(request: Request) -> Response:
        refused = cross_site(request)
        if refused:
            return _secure(JSONResponse({"error": f"refused: {refused}"}, 403))
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _secure(JSONResponse({"error": "the body is not a JSON object"}, 400))
        pair_id, choice = str(body.get("pair_id", "")), body.get("decision")
        principle, note = body.get("principle") or None, str(body.get("note") or "")
        if pair_id not in state.pairs or choice not in CHOICES:
            return _secure(JSONResponse({"error": f"a decision needs a known pair_id and one of {', '.join(CHOICES)}"}, 400))
        label = state.labels.get(pair_id)
        if principle is not None and principle not in ((label or {}).get("items") or {}):
            return _secure(JSONResponse({"error": f"{principle!r} did not judge this pair"}, 400))
        if len(note) > NOTE_LIMIT:
            return _secure(JSONResponse({"error": f"a note holds at most {NOTE_LIMIT} characters"}, 400))
        ai = ai_view(label)
        decision = {"reviewer": reviewer, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "pair_id": pair_id,
                    "content_hash": pair_hash(state.pairs[pair_id]), "decision": choice, "principle": principle, "note": note,
                    "ai": ai, "agrees_with_ai": None if choice in ("tie", "skip") or ai["side"] in (None, "tie") else choice == ai["side"]}
        state.log.append(decision)
        return _secure(JSONResponse({"saved": True, "next": state.next_pair()}))

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return _secure(PlainTextResponse("not found", 404))
        return _secure(Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name]))

    async def run_file(request: Request) -> Response:
        wanted = (state.run_dir / request.path_params["path"]).resolve()
        if not wanted.is_relative_to(state.run_dir) or not wanted.is_file():
            return _secure(PlainTextResponse("not found in the run folder", 404))
        return _secure(Response(wanted.read_bytes(), media_type=mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"))

    app = Starlette(
        routes=[Route("/", page), Route("/api/decision", decide, methods=["POST"]), Route("/static/{name}", static),
                Route("/run/{path:path}", run_file)],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=[host, "127.0.0.1", "localhost"])],
    )
    inner = app.build_middleware_stack

    def with_guard():
        stack = inner()

        async def guarded(scope, receive, send):
            if scope["type"] != "http":
                return await stack(scope, receive, send)
            return await guard(scope, receive, send, stack)

        return guarded

    app.build_middleware_stack = with_guard
    return app


def serve(run_dir: Path, reviewer: str, *, host: str = "127.0.0.1", port: int = 0, announce=print) -> None:
    """Bind, print the URL with a fresh token as the first line, and serve until interrupted."""
    import secrets
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections made as soon as the URL is printed wait in the backlog
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    app = create_app(run_dir, token, reviewer, port=port, host=host)
    announce(f"http://{host}:{port}/?token={token}")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
