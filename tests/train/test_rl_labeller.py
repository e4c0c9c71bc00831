"""The comparison labeller's arithmetic on feedback models whose option log-probabilities are set by
the test: exact soft labels, order swapping, CoT clamping, ensembles, batching into one call, option
spelling per dialect, and a real transformers forward pass with controlled logits."""

from __future__ import annotations

import math

import pytest
from rl_testkit import (
    ControlledBackend,
    compile_test_bundle,
    expected_soft_label,
    shown_responses,
    sigmoid,
)

from cai_lang.train.rl.labeller import (
    Comparison,
    ComparisonLabeller,
    FeedbackModel,
    clean_reasoning,
    option_probability,
)

CONVERSATION = ({"role": "user", "content": "How should I store kitchen knives?"},)
GOOD, BAD = "Use a knife block or magnetic strip.", "Throw them in a drawer loose."


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("rl_bundle"))


def compare(item="safe", a=GOOD, b=BAD):
    return Comparison(item, CONVERSATION, a, b)


def test_option_probability_is_a_two_way_softmax():
    assert option_probability(math.log(0.3), math.log(0.1)) == pytest.approx(0.75)
    # Far below any float's exp(): the difference still gives the answer.
    assert option_probability(-2000.0, -2001.0) == pytest.approx(sigmoid(1.0))
    assert option_probability(-5.0, -5.0) == 0.5


def test_soft_label_without_position_bias_is_the_softmax_of_the_options(rl_bundle):
    backend = ControlledBackend({GOOD: math.log(3.0), BAD: 0.0})
    (verdict,) = ComparisonLabeller(rl_bundle, [backend]).label([compare()])
    assert verdict.p_a == pytest.approx(0.75, abs=1e-12)
    assert verdict.p_a_first == pytest.approx(0.75, abs=1e-12)
    assert verdict.p_a_second == pytest.approx(0.75, abs=1e-12)


def test_both_orders_average_out_position_bias_exactly(rl_bundle):
    # quality difference log 3, bias toward the first option log 2:
    # A first: sigmoid(log 6) = 6/7; A second: sigmoid(log 1.5) = 3/5; mean 51/70.
    backend = ControlledBackend({GOOD: math.log(3.0), BAD: 0.0}, position_bias=math.log(2.0))
    (verdict,) = ComparisonLabeller(rl_bundle, [backend]).label([compare()])
    assert verdict.p_a_first == pytest.approx(6 / 7, abs=1e-12)
    assert verdict.p_a_second == pytest.approx(3 / 5, abs=1e-12)
    assert verdict.p_a == pytest.approx(51 / 70, abs=1e-12)
    assert verdict.p_a == pytest.approx(expected_soft_label(math.log(3.0), 0.0, math.log(2.0)), abs=1e-12)


def test_swapping_the_pair_gives_the_complement(rl_bundle):
    backend = ControlledBackend({GOOD: 1.3, BAD: -0.4}, position_bias=0.9)
    labeller = ComparisonLabeller(rl_bundle, [backend])
    forward, backward = labeller.label([compare(a=GOOD, b=BAD), compare(a=BAD, b=GOOD)])
    assert forward.p_a + backward.p_a == pytest.approx(1.0, abs=1e-12)


def test_pure_position_bias_gives_exactly_one_half(rl_bundle):
    backend = ControlledBackend({GOOD: 0.0, BAD: 0.0}, position_bias=3.0)
    (verdict,) = ComparisonLabeller(rl_bundle, [backend]).label([compare()])
    assert verdict.p_a_first == pytest.approx(sigmoid(3.0))
    assert verdict.p_a == pytest.approx(0.5, abs=1e-12)


def test_one_order_keeps_the_bias(rl_bundle):
    backend = ControlledBackend({GOOD: 0.0, BAD: 0.0}, position_bias=3.0)
    (verdict,) = ComparisonLabeller(rl_bundle, [backend], both_orders=False).label([compare()])
    assert verdict.p_a == pytest.approx(sigmoid(3.0))
    assert verdict.p_a_second is None
    assert len(backend.score_calls[0][0]) == 2


def test_all_comparisons_and_orders_go_in_one_scoring_call(rl_bundle):
    backend = ControlledBackend({GOOD: 1.0, BAD: 0.0, "Other.": 0.5}, position_bias=0.2)
    comparisons = [compare("safe"), compare("helpful", a=BAD, b="Other."), compare("honest", a="Other.", b=GOOD)]
    verdicts = ComparisonLabeller(rl_bundle, [backend]).label(comparisons)
    assert len(backend.score_calls) == 1
    prompts, continuations = backend.score_calls[0]
    assert len(prompts) == 4 * len(comparisons)
    # Per comparison: (A)/(B) for the given order, then (A)/(B) for the swapped one.
    assert [shown_responses(p) for p in prompts[:4]] == [(GOOD, BAD), (GOOD, BAD), (BAD, GOOD), (BAD, GOOD)]
    assert continuations[:4] == ["(A)", "(B)", "(A)", "(B)"]
    for comparison, verdict in zip(comparisons, verdicts):
        q = backend.quality
        assert verdict.p_a == pytest.approx(expected_soft_label(q[comparison.response_a], q[comparison.response_b], 0.2), abs=1e-12)


def test_each_item_is_asked_its_own_comparison_question(rl_bundle):
    backend = ControlledBackend({GOOD: 0.0, BAD: 0.0})
    ComparisonLabeller(rl_bundle, [backend]).label([compare("safe"), compare("helpful")])
    prompts = backend.score_calls[0][0]
    assert rl_bundle.principle("safe").wording.comparison_question in prompts[0][-1]["content"]
    assert rl_bundle.principle("helpful").wording.comparison_question in prompts[4][-1]["content"]


def test_options_are_spelt_for_the_dialect(rl_bundle):
    chat = ControlledBackend({GOOD: 0.0, BAD: 0.0})
    text = ControlledBackend({GOOD: 0.0, BAD: 0.0})
    ComparisonLabeller(rl_bundle, [FeedbackModel(chat, "chat"), FeedbackModel(text, "text")]).label([compare()])
    assert chat.score_calls[0][1][:2] == ["(A)", "(B)"]
    # A text prompt ends "The answer is:"; BPE puts the space at the start of the option's token.
    assert text.score_calls[0][1][:2] == [" (A)", " (B)"]
    assert isinstance(text.score_calls[0][0][0], str) and text.score_calls[0][0][0].endswith("The answer is:")
    custom = ControlledBackend({GOOD: 0.0, BAD: 0.0})
    ComparisonLabeller(rl_bundle, [FeedbackModel(custom, "chat", options=("A", "B"))]).label([compare()])
    assert custom.score_calls[0][1][:2] == ["A", "B"]


def test_ensemble_mean_and_vote(rl_bundle):
    confident = ControlledBackend({GOOD: math.log(9.0), BAD: 0.0})  # 0.9
    doubtful = ControlledBackend({GOOD: 0.0, BAD: math.log(1.5)})  # 0.4
    split = ControlledBackend({GOOD: 0.0, BAD: 0.0})  # 0.5
    mean = ComparisonLabeller(rl_bundle, [confident, doubtful]).label([compare()])[0]
    assert mean.p_a == pytest.approx(0.65)
    assert mean.per_model == pytest.approx((0.9, 0.4))
    vote = ComparisonLabeller(rl_bundle, [confident, doubtful, split], ensemble="vote").label([compare()])[0]
    assert vote.p_a == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert ComparisonLabeller(rl_bundle, [confident, confident], ensemble="vote").label([compare()])[0].p_a == 1.0


def test_cot_generates_reasoning_scores_after_it_and_clamps(rl_bundle):
    backend = ControlledBackend({GOOD: math.log(3.0), BAD: 0.0}, position_bias=math.log(2.0), reasoning="  A stores knives safely. The answer is: (A)")
    labeller = ComparisonLabeller(rl_bundle, [backend], cot=True)
    (verdict,) = labeller.label([compare()])
    # Unclamped per-order values are kept; the label is clamped into the band.
    assert verdict.p_a_first == pytest.approx(6 / 7)
    assert verdict.per_model == pytest.approx((51 / 70,))
    assert verdict.p_a == 0.6
    assert verdict.reasoning == ("A stores knives safely.", "A stores knives safely.")
    (generated, params), = backend.generate_calls
    assert len(generated) == 2 and params.greedy
    assert "step by step" in generated[0][-1]["content"]
    answer_prompts = backend.score_calls[0][0]
    assert answer_prompts[0][1] == {"role": "assistant", "content": "A stores knives safely."}
    assert all("The answer is: (A)" not in m["content"] for m in answer_prompts[0][1:2])


def test_cot_clamp_band_is_configurable_and_leaves_inner_values(rl_bundle):
    backend = ControlledBackend({GOOD: 0.0, BAD: math.log(9.0)})  # 0.1
    assert ComparisonLabeller(rl_bundle, [backend], cot=True).label([compare()])[0].p_a == 0.4
    assert ComparisonLabeller(rl_bundle, [backend], cot=True, clamp=(0.2, 0.8)).label([compare()])[0].p_a == 0.2
    inside = ControlledBackend({GOOD: math.log(1.1), BAD: 0.0})
    assert ComparisonLabeller(rl_bundle, [inside], cot=True).label([compare()])[0].p_a == pytest.approx(1.1 / 2.1)
    with pytest.raises(ValueError):
        ComparisonLabeller(rl_bundle, [backend], cot=True, clamp=(0.6, 0.7))


def test_without_cot_nothing_is_clamped_or_generated(rl_bundle):
    backend = ControlledBackend({GOOD: 0.0, BAD: math.log(9.0)})
    assert ComparisonLabeller(rl_bundle, [backend]).label([compare()])[0].p_a == pytest.approx(0.1)
    assert backend.generate_calls == []


def test_clean_reasoning_cuts_before_the_answer():
    assert clean_reasoning(" B is vague.\nThe answer is: (A)") == "B is vague."
    assert clean_reasoning("Hence THE ANSWER IS (B)") == "Hence"
    assert clean_reasoning("No verdict yet.") == "No verdict yet."


def test_empty_input_asks_nothing(rl_bundle):
    backend = ControlledBackend({})
    assert ComparisonLabeller(rl_bundle, [backend]).label([]) == []
    assert backend.score_calls == []


def test_item_without_comparison_wording_is_refused(rl_bundle):
    backend = ControlledBackend({GOOD: 0.0, BAD: 0.0})
    with pytest.raises(ValueError, match="concise"):
        ComparisonLabeller(rl_bundle, [backend]).label([compare("concise")])


# ---------------------------------------------------------------- a real forward pass with set logits


class _BiasOnlyLM:
    """A causal LM whose next-token logits are one fixed vector, whatever the input: a pure
    position-bias judge when the vector favours the letter A."""

    def __new__(cls, bias):
        import torch

        class BiasOnly(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.bias = torch.nn.Parameter(bias.clone())

            def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
                from types import SimpleNamespace

                return SimpleNamespace(logits=self.bias.expand(input_ids.shape[0], input_ids.shape[1], -1))

        return BiasOnly()


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model))


def _continuation_ids(tokenizer, prompt_text: str, option: str) -> list[int]:
    # Written independently of the engine: the tokens of prompt+option past
    # their longest common prefix with the prompt's own tokens.
    full = tokenizer(prompt_text + option, add_special_tokens=False)["input_ids"]
    alone = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    shared = 0
    while shared < min(len(full), len(alone)) and full[shared] == alone[shared]:
        shared += 1
    return full[shared:]


def test_real_forward_pass_with_set_logits(rl_bundle, tiny_tokenizer):
    import torch

    from cai_lang.engine.local import LocalBackend

    vocab = len(tiny_tokenizer)
    bias = torch.zeros(vocab)
    a_ids = [i for t, i in tiny_tokenizer.get_vocab().items() if "A" in t and "B" not in t]
    bias[a_ids] = 2.0
    model = _BiasOnlyLM(bias)
    backend = LocalBackend.from_model(model, tiny_tokenizer, model_id="bias-only")
    labeller = ComparisonLabeller(rl_bundle, [backend])
    comparison = compare()
    (verdict,) = labeller.label([comparison])

    prompt = labeller._render(labeller.models[0], "compare", comparison, (GOOD, BAD))
    text = tiny_tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    logsoft = torch.log_softmax(bias, -1)
    score = {o: float(sum(logsoft[i] for i in _continuation_ids(tiny_tokenizer, text, o))) for o in ("(A)", "(B)")}
    expected_first = sigmoid(score["(A)"] - score["(B)"])
    assert expected_first > 0.6  # the bias really favours option (A)
    assert verdict.p_a_first == pytest.approx(expected_first, abs=1e-5)
    assert verdict.p_a_second == pytest.approx(1 - expected_first, abs=1e-5)
    assert verdict.p_a == pytest.approx(0.5, abs=1e-6)
