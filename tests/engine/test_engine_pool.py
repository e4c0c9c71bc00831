"""Several servers as one backend: work spread in order, a failing server's share retried elsewhere; and the
chat-template options every chat request carries."""

from __future__ import annotations

import pytest
from openai_stub import start_stub

from cai_lang.engine.http import HTTPBackend
from cai_lang.engine.pool import PooledBackend, PoolError, pool_urls
from cai_lang.train.run.model_specs import ServerSettings, open_backend


@pytest.fixture
def two_stubs():
    started = [start_stub() for _ in range(2)]
    yield [stub for stub, _ in started]
    for _, server in started:
        server.shutdown()


def members(stubs, **options):
    return [HTTPBackend(s.url, model="m", backoff=0.01, timeout=5.0, max_retries=1, **options) for s in stubs]


def test_work_is_spread_over_the_servers_and_comes_back_in_order(two_stubs):
    pool = PooledBackend(members(two_stubs))
    prompts = [f"prompt {i}" for i in range(10)]
    one = HTTPBackend(two_stubs[0].url, model="m").generate(prompts)
    two_stubs[0].requests.clear()
    assert pool.generate(prompts) == one
    assert pool.served == [5, 5]
    assert len(two_stubs[0].requests) == 5 and len(two_stubs[1].requests) == 5
    pool.close()


def test_a_prompt_s_seed_does_not_depend_on_which_server_serves_it(two_stubs):
    from cai_lang.engine.base import SamplingParams, request_seed

    pool = PooledBackend(members(two_stubs))
    prompts = [f"prompt {i}" for i in range(6)]
    params = SamplingParams(max_new_tokens=4, seed=5)
    assert pool.generate(prompts, params) == HTTPBackend(two_stubs[0].url, model="m").generate(prompts, params)
    sent = {r["body"]["prompt"]: r["body"]["seed"] for stub in two_stubs for r in stub.requests}
    assert sent == {p: request_seed(5, i) for i, p in enumerate(prompts)}
    pool.close()


def test_a_failing_server_s_share_is_retried_on_another(two_stubs):
    two_stubs[0].script = [("status", 500)] * 50
    pool = PooledBackend(members(two_stubs))
    prompts = [f"prompt {i}" for i in range(6)]
    out = pool.generate(prompts)
    assert out == HTTPBackend(two_stubs[1].url, model="m").generate(prompts)
    assert pool.served == [0, 6]
    scores = pool.continuation_logprobs([f"p{i}" for i in range(4)], [" x"] * 4)  # the failing one is now tried last
    assert len(scores) == 4 and pool.served == [0, 10]
    pool.close()


def test_when_every_server_fails_the_error_names_each(two_stubs):
    for stub in two_stubs:
        stub.script = [("status", 503)] * 50
    pool = PooledBackend(members(two_stubs))
    with pytest.raises(PoolError, match="every server of the pool failed"):
        pool.generate(["x", "y"])
    pool.close()


def test_a_spec_with_several_urls_opens_a_pool(two_stubs):
    spec = f"{two_stubs[0].url},{two_stubs[1].url}#m"
    backend = open_backend(spec, ServerSettings(), device="cpu", batch_size=1)
    assert isinstance(backend, PooledBackend) and len(backend.members) == 2 and backend.model_id == "m"
    assert pool_urls(" http://a/v1 , http://b/v1") == ["http://a/v1", "http://b/v1"]
    backend.close()


def test_chat_template_kwargs_go_with_every_chat_request(stub):
    backend = HTTPBackend(stub.url, model="m", chat_template_kwargs={"enable_thinking": False})
    chat = [{"role": "user", "content": "hi"}]
    backend.generate([chat])
    backend.continuation_logprobs([chat, chat], ["A", "B"])
    backend.generate(["a text prompt"])
    bodies = {r["path"]: r["body"] for r in stub.requests}
    chats = [r["body"] for r in stub.requests if r["path"].endswith("/chat/completions")]
    assert len(chats) == 2 and all(b["chat_template_kwargs"] == {"enable_thinking": False} for b in chats)
    assert "chat_template_kwargs" not in bodies["/v1/completions"]
