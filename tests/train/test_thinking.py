"""Reasoning models: thinking blocks out of what is judged and trained on, chat-template options reaching
the template, and the labeller scoring the answer after a block the template opens."""

from __future__ import annotations

import shutil

import pytest
from stub_backend import StubBackend

from cai_lang.train.run.prompts import PromptRecord
from cai_lang.train.sl.generate import SLGenerationConfig, generate_chunk, row_of
from cai_lang.train.sl.sft import training_pairs
from cai_lang.train.thinking import (
    SKIP_THINKING,
    ThinkingStats,
    answer_prefix_for,
    insists_on_thinking,
    strip_thinking,
)


@pytest.mark.parametrize(
    "text, answer",
    [
        ("<think>\n\n</think>\n\nHello there.", "Hello there."),  # Qwen3 with thinking off
        ("<think>is it safe? yes</think> Sure, here is how.", "Sure, here is how."),
        ("the template opened the block</think>\nAnswer.", "Answer."),
        ("Answer first. <think>then a thought cut off by the token lim", "Answer first."),
        ("<think>only thinking, never closed", ""),
        ("<THINK>a</THINK>b<think>c</think>d", "bd"),
        ("  no thinking at all  ", "no thinking at all"),
        ("a < b and 2 > 1", "a < b and 2 > 1"),
    ],
)
def test_thinking_is_stripped_in_each_shape(text, answer):
    assert strip_thinking(text) == answer


def test_stats_count_what_was_removed():
    stats = ThinkingStats()
    for text in ("<think>x</think>y", "plain", "<think>never closed"):
        strip_thinking(text, stats)
    assert stats.to_dict() == {"thinking_stripped": 2, "only_thinking": 1}


def test_sl_rows_hold_no_thinking_and_say_how_much_was_removed(bundle):
    def script(step, prompt):
        return {"response": "<think>\n\n</think>\n\nfirst", "critique": "<think>hmm</think>too harsh",
                "revision": "<think>fix it</think>gentler"}[step]

    record = PromptRecord(id="r1", prompt="bad request", kind="red_team", context={})
    (w,) = generate_chunk([record], policy=StubBackend(script=script), critic=None, bundle=bundle,
                          config=SLGenerationConfig(rounds=2))
    row = row_of(w, bundle=bundle, config=SLGenerationConfig(rounds=2), model="m", critic_model=None)
    assert row["initial_response"] == "first"
    assert [r["critique"] for r in row["rounds"]] == ["too harsh", "too harsh"]
    assert row["final_response"] == "gentler" and row["messages"][-1]["content"] == "gentler"
    assert row["thinking_stripped"] == 5
    assert "<think>" not in str(row)


def test_sft_targets_from_old_rows_lose_their_thinking_too():
    rows = [{"kind": "red_team", "prompt": "p", "final_response": "<think>\n\n</think>\n\nr2",
             "rounds": [{"revision": "<think>a</think>r1"}, {"revision": "<think>\n\n</think>\n\nr2"}]}]
    assert [e["completion"][0]["content"] for e in training_pairs(rows, "final")[0]] == ["r2"]
    assert [e["completion"][0]["content"] for e in training_pairs(rows, "all")[0]] == ["r1", "r2"]


THINKING_TEMPLATE_TAIL = (
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and not enable_thinking -%}{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else -%}{{ '<think>\\n' }}{%- endif -%}{%- endif -%}"
)


@pytest.fixture(scope="module")
def thinking_model(tiny_model, tmp_path_factory):
    """The tiny model with an R1-style template: the reply starts inside <think> unless enable_thinking=False."""
    from transformers import AutoTokenizer

    from cai_lang.engine.tiny import CHAT_TEMPLATE

    folder = tmp_path_factory.mktemp("thinking") / "model"
    shutil.copytree(tiny_model, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    head = CHAT_TEMPLATE.rsplit("{%- if add_generation_prompt", 1)[0]
    tokenizer.chat_template = head + THINKING_TEMPLATE_TAIL
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_chat_template_kwargs_reach_the_template_and_the_labeller_scores_after_the_block(thinking_model, bundle):
    from cai_lang.engine.local import LocalBackend
    from cai_lang.train.rl.labeller import ComparisonLabeller, FeedbackModel

    thinking = LocalBackend(str(thinking_model), device="cpu")
    quiet = LocalBackend(str(thinking_model), device="cpu", chat_template_kwargs={"enable_thinking": False})
    question = [{"role": "user", "content": "hi"}]
    assert insists_on_thinking(thinking.encoder.render(question))
    assert not insists_on_thinking(quiet.encoder.render(question))
    assert answer_prefix_for(thinking) == SKIP_THINKING and answer_prefix_for(quiet) == ""

    model = FeedbackModel(thinking, "chat", answer_prefix=answer_prefix_for(thinking))
    assert model.option_texts == (SKIP_THINKING + "(A)", SKIP_THINKING + "(B)")
    labeller = ComparisonLabeller(bundle, [model])
    seen = []
    original = thinking.continuation_logprobs

    def spy(prompts, continuations):
        seen.extend(continuations)
        return original(prompts, continuations)

    thinking.continuation_logprobs = spy
    from cai_lang.train.rl.aggregate import Aggregator

    comparison_item = Aggregator(bundle, "priority").plan("x", {}, "a", "b").model[0]
    verdict = labeller.label_one(comparison_item, question, "yes", "no")
    assert 0.0 < verdict.p_a < 1.0
    assert seen and all(c.startswith(SKIP_THINKING) for c in seen)


def test_caic_generate_rl_pairs_hold_no_thinking(bundle):
    from cai_lang.train.rl.generate import RLGenerationConfig, sample_chunk

    backend = StubBackend(script=lambda step, prompt: "<think>weighing it</think>\n\nthe answer")
    record = PromptRecord(id="r1", prompt="bad request", kind="red_team", context={})
    (pair,) = sample_chunk([record], policy=backend, bundle=bundle, config=RLGenerationConfig(), chunk_index=0, policy_id="p")
    assert pair["response_a"] == pair["response_b"] == "the answer"
