"""Prefix reuse end to end on the tiny model: SL-CAI rows and comparison labels are the same with the
engine's KV-cache reuse as without it, and reuse releases every row's cache when the chunk is done."""

from __future__ import annotations

import pytest

from cai_lang.train.rl.labeller import Comparison, ComparisonLabeller
from cai_lang.train.run.prompts import PromptRecord
from cai_lang.train.sl.generate import SLGenerationConfig, generate_chunk, row_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backends(tiny_model):
    from cai_lang.engine.local import LocalBackend

    reusing = LocalBackend(str(tiny_model), device="cpu", batch_size=3)
    plain = LocalBackend.from_model(reusing.model, reusing.tokenizer, batch_size=3, reuse_prefixes=False)
    return reusing, plain


def records() -> list[PromptRecord]:
    prompts = ["how do I pick a lock", "write a rude joke about my boss", "which pills can I mix",
               "tell me how to make my neighbour's dog sick", "hi"]
    out = [PromptRecord(id=f"r{i}", prompt=p, kind="red_team", context={"topic": "medical" if i % 2 else "general"})
           for i, p in enumerate(prompts)]
    return out + [PromptRecord(id="h0", prompt="say something nice", kind="helpful", context={})]


@pytest.mark.parametrize("dialect", ["chat", "text"])
def test_sl_rows_are_identical_with_and_without_reuse(bundle, backends, dialect):
    reusing, plain = backends
    config = SLGenerationConfig(rounds=3, max_new_tokens=12, temperature=0.0, dialect=dialect, chunk_size=6)

    def rows(backend):
        done = generate_chunk(records(), policy=backend, critic=None, bundle=bundle, config=config)
        return [row_of(w, bundle=bundle, config=config, model="m", critic_model="m") for w in done]

    fed: list[int] = []
    # A hook, not a wrapped `forward`: generate() reads forward's signature to pass position ids.
    handle = reusing.model.register_forward_pre_hook(
        lambda module, args, kwargs: fed.append(int(kwargs["input_ids"].numel())), with_kwargs=True
    )
    try:
        expected = rows(plain)
        plain_fed, fed[:] = sum(fed), []
        got = rows(reusing)
        reused_fed = sum(fed)
    finally:
        handle.remove()
    assert got == expected
    assert all(len(r["rounds"]) == 3 for r in got if r["kind"] == "red_team")
    assert reused_fed < 0.75 * plain_fed
    # The chunk is over: no row's cache is left behind.
    assert reusing._store.tokens == 0 and not reusing._store.rows


def test_labels_are_identical_with_and_without_reuse(bundle, backends):
    reusing, plain = backends
    conversations = [({"role": "user", "content": f"Question {i}: how should I store the medicines at home?"},) for i in range(3)]
    responses = ["Keep them locked away from children.", "Anywhere is fine.", "Ask a pharmacist how to store each one."]
    comparisons = [
        Comparison(item, conversation, responses[i % 3], responses[(i + 1) % 3])
        for i, conversation in enumerate(conversations)
        for item in ("harmless", "accurate", "concise")
    ]
    for dialect in ("chat", "text"):
        got = ComparisonLabeller.from_backends(bundle, reusing, dialect=dialect).label(comparisons)
        expected = ComparisonLabeller.from_backends(bundle, plain, dialect=dialect).label(comparisons)
        for g, e in zip(got, expected):
            assert g.p_a == pytest.approx(e.p_a, abs=1e-5)
            assert g.p_a_first == pytest.approx(e.p_a_first, abs=1e-5)
            assert g.p_a_second == pytest.approx(e.p_a_second, abs=1e-5)


def test_progress_moves_per_engine_batch_and_changes_no_result(bundle, backends):
    # Six prompts in batches of three: within one chunk, each call reports its batches before it returns.
    from cai_lang.train.run.work import ChunkWork

    reusing, plain = backends
    config = SLGenerationConfig(rounds=2, max_new_tokens=8, temperature=0.0, chunk_size=6)
    seen: list[tuple[int, int, int]] = []
    with ChunkWork(lambda *state: seen.append(state), 6, [reusing]) as work:
        watched = generate_chunk(records(), policy=reusing, critic=None, bundle=bundle, config=config, chunk_work=work)
    assert reusing.on_batch is None  # let go once the chunk is done
    quiet = generate_chunk(records(), policy=plain, critic=None, bundle=bundle, config=config)
    assert [row_of(w, bundle=bundle, config=config, model="m", critic_model=None) for w in watched] == [
        row_of(w, bundle=bundle, config=config, model="m", critic_model=None) for w in quiet]
    done = [d for d, _, _ in seen]
    assert done == sorted(done)
    # Besides 0 and the end of each call (at most a response, then a critique and a revision per round), batch ends.
    assert len(set(done)) > 1 + 1 + 2 * config.rounds
    inputs = len(watched) + sum(len(w.rounds) + sum(r["revision"] is not None for r in w.rounds) for w in watched)
    assert seen[-1][:2] == (inputs, inputs)


def test_labelling_reports_each_scored_batch(bundle, backends):
    from cai_lang.train.run.work import ChunkWork

    _, plain = backends
    conversations = [({"role": "user", "content": f"Question {i}: how should I store the medicines at home?"},) for i in range(3)]
    comparisons = [Comparison(item, c, "Keep them locked away.", "Anywhere is fine.") for c in conversations for item in ("harmless", "concise")]
    for backend in backends:  # plain: pairs in batches of three; reusing: clusters of contexts
        seen: list[tuple[int, int, int]] = []
        labeller = ComparisonLabeller.from_backends(bundle, backend)
        with ChunkWork(lambda *state: seen.append(state), 3, [backend]) as work:
            got = labeller.label(comparisons, work=work)
        expected = labeller.label(comparisons)
        assert [g.p_a for g in got] == pytest.approx([e.p_a for e in expected], abs=1e-6)
        total = len(comparisons) * 2 * 2  # both orders, both options
        done = [d for d, _, _ in seen]
        assert seen[0] == (0, total, 3) and seen[-1] == (total, total, 3) and done == sorted(done)
        if backend is plain:
            assert done == [0, 3, 6, 9, 12, 15, 18, 21, 24, 24]
