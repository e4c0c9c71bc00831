"""Prefix (KV cache) reuse in the local backend: the same greedy tokens and scores as without it,
fewer tokens fed, kept rows inside their token budget, and the grouping and ordering helpers."""

from __future__ import annotations

import contextlib

import pytest

from cai_lang.engine import SamplingParams
from cai_lang.engine.base import prefix_order
from cai_lang.engine.local import LocalBackend
from cai_lang.engine.prefix import MIN_SHARED_TOKENS, cluster_contexts

GREEDY = SamplingParams(max_new_tokens=10, do_sample=False)
STOPPING = SamplingParams(max_new_tokens=10, do_sample=False, stop=("e", "\n"))
STARTS = [
    "Human: hello there\n\nAssistant:",
    "Human: what is the capital of France? Please tell me in one sentence.\n\nAssistant:",
    "Human: x\n\nAssistant:",
    "Human: tell me a story about a cat who lives on a boat\n\nAssistant:",
    "Human: how do I store medicine safely at home?\n\nAssistant:",
]


@pytest.fixture(scope="module")
def backends(tiny_model_dir):
    reusing = LocalBackend(str(tiny_model_dir), device="cpu", batch_size=3)
    plain = LocalBackend.from_model(reusing.model, reusing.tokenizer, batch_size=3, reuse_prefixes=False)
    return reusing, plain


@contextlib.contextmanager
def feeding(backend):
    """Tokens fed per forward pass, from a hook: wrapping `forward` would hide its signature from
    generate(), which then stops passing position ids."""
    fed: list[int] = []
    handle = backend.model.register_forward_pre_hook(
        lambda module, args, kwargs: fed.append(int(kwargs["input_ids"].numel())), with_kwargs=True
    )
    try:
        yield fed
    finally:
        handle.remove()


def chain(backend, rows, step, params_of):
    """Three calls, each prompt extending the last prompt plus its completion (as critique -> revision does)."""
    prompts, outputs = list(STARTS), []
    for k in range(3):
        params = params_of(k)
        texts = step(backend, prompts, params, rows)
        outputs.append(texts)
        prompts = [p + t + f"\n\nRequest {k}: say it again{' and more' * i}\n\nReply:" for i, (p, t) in enumerate(zip(prompts, texts))]
    return outputs


@pytest.mark.slow
@pytest.mark.parametrize("params_of", [lambda k: GREEDY, lambda k: STOPPING if k == 1 else GREEDY])
def test_greedy_chains_are_identical_with_and_without_reuse(backends, params_of):
    reusing, plain = backends
    rows = [f"row{i}" for i in range(len(STARTS))]
    with feeding(plain) as fed_plain:
        expected = chain(plain, rows, lambda b, p, s, r: b.generate(p, s), params_of)
    with feeding(reusing) as fed_reusing:
        got = chain(reusing, rows, lambda b, p, s, r: b.generate_rows(p, s, rows=r), params_of)
    assert got == expected
    # Later calls read only what each row added, so far fewer tokens are fed.
    assert sum(fed_reusing) < 0.8 * sum(fed_plain)
    assert reusing._store.tokens > 0
    reusing.release_rows(rows)
    assert reusing._store.tokens == 0 and not reusing._store.rows


@pytest.mark.slow
def test_chat_prompts_reuse_the_rendered_transcript(backends):
    reusing, plain = backends
    first = [[{"role": "user", "content": s}] for s in STARTS]
    answers = reusing.generate_rows(first, GREEDY, rows=range(len(first)))
    assert answers == plain.generate(first, GREEDY)
    second = [m + [{"role": "assistant", "content": a}, {"role": "user", "content": "Critique it."}] for m, a in zip(first, answers)]
    assert reusing.generate_rows(second, GREEDY, rows=range(len(first))) == plain.generate(second, GREEDY)
    reusing.release_rows(range(len(first)))


@pytest.mark.slow
def test_the_token_budget_bounds_what_is_kept(tiny_model_dir):
    small = LocalBackend(str(tiny_model_dir), device="cpu", batch_size=2, max_cached_tokens=40)
    plain = LocalBackend.from_model(small.model, small.tokenizer, batch_size=2, reuse_prefixes=False)
    rows = list(range(len(STARTS)))
    got = chain(small, rows, lambda b, p, s, r: (b.generate_rows(p, s, rows=r), b._store.tokens)[0], lambda k: GREEDY)
    assert small._store.tokens <= 40
    assert got == chain(plain, rows, lambda b, p, s, r: b.generate(p, s), lambda k: GREEDY)


def test_generate_rows_needs_one_distinct_key_per_prompt(backends):
    reusing, _ = backends
    with pytest.raises(ValueError, match="distinct row key"):
        reusing.generate_rows(STARTS[:2], GREEDY, rows=["a", "a"])
    with pytest.raises(ValueError, match="max_cached_tokens"):
        LocalBackend.from_model(reusing.model, reusing.tokenizer, max_cached_tokens=-1)


@pytest.mark.slow
def test_shared_prefix_scoring_matches_reading_every_pair_in_full(backends):
    reusing, plain = backends
    conversation = "Consider this conversation. Human: how should I store my medicines so that they stay safe? "
    prompts, options = [], []
    for question in ("Which is kinder?", "Which is more honest about what it does not know?", "Which is shorter?"):
        for a, b in (("keep them locked away", "leave them anywhere"), ("leave them anywhere", "keep them locked away")):
            prompt = f"{conversation}{question} Options: (A) {a} (B) {b}. The answer is"
            prompts += [prompt, prompt]
            options += [" (A)", " (B) because"]
    prompts += ["An unrelated short prompt", "x"]
    options += [" (A)", " (B)"]
    with feeding(reusing) as fed:
        got = reusing.continuation_logprobs(prompts, options)
    with feeding(plain) as fed_plain:
        expected = plain.continuation_logprobs(prompts, options)
    assert got == pytest.approx(expected, abs=1e-4)
    assert sum(fed) < 0.7 * sum(fed_plain)


def test_contexts_are_grouped_when_sharing_reads_fewer_tokens():
    shared = tuple(range(100, 100 + 2 * MIN_SHARED_TOKENS))
    a, b, c = shared + (1, 2, 3), shared + (4, 5), shared[:4] + (9,) * 40
    groups = cluster_contexts([b, c, a, a])
    assert (len(shared), [a, b]) in groups
    assert (len(c), [c]) in groups  # shares too little to be worth a pass
    # A context that is a prefix of another is its group's whole prefix.
    assert cluster_contexts([shared, a]) == [(len(shared), [shared, a])]


def test_prefix_order_puts_shared_prefixes_together():
    prompts = ["b conversation, question 1", "a other", "b conversation, question 2", [{"role": "user", "content": "x"}]]
    order = prefix_order(prompts)
    assert sorted(order) == [0, 1, 2, 3]
    assert abs(order.index(0) - order.index(2)) == 1
    chats = [[{"role": "user", "content": "q"}, {"role": "user", "content": str(i % 2)}] for i in range(4)]
    assert prefix_order(chats) == [0, 2, 1, 3]
