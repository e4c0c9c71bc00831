"""The transformers backend on the tiny model: batching, order, seeds, stops, scoring."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from cai_lang.engine import EngineError, SamplingParams  # noqa: E402
from cai_lang.engine.local import LocalBackend, resolve_dtype  # noqa: E402

GREEDY = SamplingParams(max_new_tokens=12, do_sample=False)
PROMPTS = [
    "Hi",
    "The assistant should be helpful, honest and harmless, and explain",
    [{"role": "user", "content": "Write a short poem about the sea."}],
    "Which response is better?",
    [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "How do I bake bread?"}],
    "A constitution is a short list of principles. Each principle says what a good answer does",
]


class ForwardCounter:
    """Counts the model's forward passes, to check batching and early stops."""

    def __init__(self, model, monkeypatch):
        self.calls = 0
        original = model.forward

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(model, "forward", counted)


def manual_logprob(backend, prompt_text: str, continuation: str) -> float:
    """log P(continuation | prompt) straight from one unpadded forward pass."""
    tok, model = backend.tokenizer, backend.model
    prompt_ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
    full_ids = tok(prompt_text + continuation, add_special_tokens=False)["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids  # no merge across the boundary in these cases
    with torch.no_grad():
        logits = model(torch.tensor([full_ids])).logits[0]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return sum(float(logprobs[pos - 1, full_ids[pos]]) for pos in range(len(prompt_ids), len(full_ids)))


def test_batched_greedy_equals_unbatched_and_keeps_order(tiny_backend):
    batched = tiny_backend.generate(PROMPTS, GREEDY)
    one_by_one = [tiny_backend.generate([p], GREEDY)[0] for p in PROMPTS]
    assert batched == one_by_one
    assert len(set(batched)) == len(PROMPTS)  # distinct answers, so a reordering would show
    reversed_batch = tiny_backend.generate(PROMPTS[::-1], GREEDY)
    assert reversed_batch[::-1] == batched


def test_batch_size_does_not_change_greedy_output(tiny_model_dir, tiny_backend):
    wide = LocalBackend(str(tiny_model_dir), device="cpu", batch_size=len(PROMPTS))
    assert wide.generate(PROMPTS, GREEDY) == tiny_backend.generate(PROMPTS, GREEDY)


def test_a_seed_makes_sampling_reproducible_without_touching_global_rng(tiny_backend):
    params = SamplingParams(max_new_tokens=12, seed=7, top_k=20, top_p=0.9, temperature=0.8)
    torch.manual_seed(99)
    expected_next = torch.rand(2)
    torch.manual_seed(99)
    first = tiny_backend.generate(PROMPTS, params)
    assert torch.equal(torch.rand(2), expected_next)
    assert tiny_backend.generate(PROMPTS, params) == first
    other = tiny_backend.generate(PROMPTS, SamplingParams(max_new_tokens=12, seed=8, top_k=20, top_p=0.9))
    assert other != first


def test_stop_strings_truncate(tiny_backend):
    prompt = PROMPTS[1]
    full = tiny_backend.generate([prompt], SamplingParams(max_new_tokens=24, do_sample=False))[0]
    stop = next(full[j : j + 2] for j in range(len(full) // 2, len(full) - 1) if not full[j : j + 2].isspace())
    params = SamplingParams(max_new_tokens=24, do_sample=False, stop=(stop, "\x00"))
    cut = tiny_backend.generate([prompt], params)[0]
    assert cut == full[: full.index(stop)]


def test_generation_ends_early_once_every_row_has_stopped(tiny_backend, monkeypatch):
    one_token = SamplingParams(max_new_tokens=1, do_sample=False)
    firsts = [text[:1] for text in tiny_backend.generate(PROMPTS[:2], one_token)]
    counter = ForwardCounter(tiny_backend.model, monkeypatch)
    params = SamplingParams(max_new_tokens=40, do_sample=False, stop=tuple(firsts))
    assert tiny_backend.generate(PROMPTS[:2], params) == ["", ""]
    assert counter.calls <= 2  # one batch, stopped after its first token instead of 40


def test_eos_ends_a_completion(tiny_model_dir):
    backend = LocalBackend(str(tiny_model_dir), device="cpu")
    full = backend.generate([PROMPTS[0]], GREEDY)[0]
    ids = backend.tokenizer(full, add_special_tokens=False)["input_ids"]
    # Declare the third greedy token an EOS: the completion must stop before it.
    backend._eos_ids = [ids[2]]
    short = backend.generate([PROMPTS[0]], GREEDY)[0]
    assert full.startswith(short) and len(short) < len(full)


def test_continuation_logprobs_match_a_manual_forward_pass(tiny_backend):
    chat = [{"role": "user", "content": "Which is better, (A) or (B)?"}]
    prompts = ["The answer is", "The answer is", chat, chat, "Options: (A) (B). The best is"]
    options = [" (A)", " (B)", "(A)", "(B) because it is kinder", " (A)"]
    scores = tiny_backend.continuation_logprobs(prompts, options)
    rendered = tiny_backend.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    texts = [p if isinstance(p, str) else rendered for p in prompts]
    expected = [manual_logprob(tiny_backend, t, o) for t, o in zip(texts, options)]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert all(s < 0 for s in scores)


def test_options_for_one_prompt_share_one_pass_over_the_prompt(tiny_backend, monkeypatch):
    fed: list[int] = []
    forward = tiny_backend.model.forward

    def counting(*args, **kwargs):
        fed.append(int(kwargs["input_ids"].numel()))
        return forward(*args, **kwargs)

    monkeypatch.setattr(tiny_backend.model, "forward", counting)
    prompt = "Options: (A) a kind answer (B) a curt answer. The answer is"
    scores = tiny_backend.continuation_logprobs([prompt] * 2, [" (A)", " (B)"])
    context = len(tiny_backend.tokenizer(prompt)["input_ids"])
    option = len(tiny_backend.tokenizer(prompt + " (A)")["input_ids"]) - context
    # One pass over the prompt, one over both options' tokens: the prompt is
    # never read twice, whatever the number of options.
    assert len(fed) == 2
    assert sum(fed) <= context + 2 * option
    monkeypatch.undo()
    assert scores == pytest.approx([manual_logprob(tiny_backend, prompt, o) for o in (" (A)", " (B)")], abs=1e-4)


def test_a_trailing_space_in_the_prompt_scores_like_a_leading_one(tiny_backend):
    # "is " + "(A)" tokenises as "is", " (", "A", ")": the shared-prefix rule
    # drops the prompt's lone space token and scores " (" instead.
    tokens = tiny_backend.tokenizer.tokenize("The answer is (A)")
    assert tokens[-3] == "\u0120("  # byte-level BPE spells the space as Ġ
    a, b = tiny_backend.continuation_logprobs(["The answer is", "The answer is "], [" (A)", "(A)"])
    assert a == pytest.approx(b, abs=1e-5)


def test_scoring_edge_cases(tiny_backend):
    assert tiny_backend.continuation_logprobs(["The answer is"], [""]) == [0.0]
    assert tiny_backend.continuation_logprobs([], []) == []
    with pytest.raises(ValueError):
        tiny_backend.continuation_logprobs(["a", "b"], [" x"])
    with pytest.raises(EngineError, match="no context"):
        tiny_backend.continuation_logprobs([""], ["Hello"])
    with pytest.raises(EngineError, match="empty prompt"):
        tiny_backend.generate([""], GREEDY)


def test_a_tokenizer_without_chat_template_refuses_chat_prompts(tiny_model_dir):
    backend = LocalBackend(str(tiny_model_dir), device="cpu")
    backend.tokenizer.chat_template = None
    with pytest.raises(EngineError, match="no chat template"):
        backend.generate([[{"role": "user", "content": "hi"}]], GREEDY)


def test_from_model_wraps_objects_in_memory_and_restores_train_mode(tiny_backend):
    wrapped = LocalBackend.from_model(tiny_backend.model, tiny_backend.tokenizer, batch_size=3)
    expected = tiny_backend.generate(PROMPTS[:3], GREEDY)
    tiny_backend.model.train()  # as a trainer would leave its policy
    try:
        assert wrapped.generate(PROMPTS[:3], GREEDY) == expected
        wrapped.continuation_logprobs(["The answer is"], [" (A)"])
        assert tiny_backend.model.training
    finally:
        tiny_backend.model.eval()


def test_dtype_resolution():
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("float8", cpu)
