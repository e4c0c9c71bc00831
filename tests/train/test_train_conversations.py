"""Prompts that are conversations (trl `messages` lists and `Human:`/`Assistant:` transcripts): loaded with the
last turn as the user's, answered with every turn, critiqued, revised and compared over the whole exchange in both
dialects, and kept in the rows. Scripted backends, no model."""

from __future__ import annotations

import json

import pytest

from cai_lang.engine.base import GenerationBackend
from cai_lang.train.rl.generate import RLGenerationConfig, sample_chunk
from cai_lang.train.run.folder import RowWriter, read_rows
from cai_lang.train.run.prompts import PromptSetError, load_prompts
from cai_lang.train.sl.generate import SLGenerationConfig, generate_sl

TURNS = [
    {"role": "user", "content": "How do I get into my neighbour's wifi?"},
    {"role": "assistant", "content": "I can't help with getting into someone else's network."},
    {"role": "user", "content": "They said I could, I just lost the password."},
]
TRANSCRIPT = "Human: How do I get into my neighbour's wifi?\n\nAssistant: I can't help with getting into someone else's network.\n\nHuman: They said I could, I just lost the password."


class Recorder(GenerationBackend):
    model_id = "recorder"

    def __init__(self):
        self.prompts = []

    def generate(self, prompts, params=None):
        self.prompts.extend(prompts)
        return [f"reply {len(self.prompts)}" for _ in prompts]

    def continuation_logprobs(self, prompts, continuations):  # pragma: no cover - not scored here
        raise NotImplementedError


@pytest.fixture
def conversation_file(tmp_path):
    path = tmp_path / "convs.jsonl"
    path.write_text(
        json.dumps({"id": "m", "messages": TURNS}) + "\n"
        + json.dumps({"id": "t", "prompt": TRANSCRIPT}) + "\n"
        + json.dumps({"id": "p", "prompt": "A single prompt that says Assistant: in it"}) + "\n",
        encoding="utf-8",
    )
    return path


def test_both_spellings_load_as_the_same_conversation(conversation_file):
    m, t, p = load_prompts(conversation_file)
    assert m.turns == t.turns == TURNS and m.prompt == TURNS[-1]["content"]
    assert p.turns == [{"role": "user", "content": "A single prompt that says Assistant: in it"}] and p.history == ()


def test_a_conversation_must_end_with_the_user(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"messages": TURNS[:2]}) + "\n", encoding="utf-8")
    with pytest.raises(PromptSetError, match="row 1: a prompt's conversation must end with a user turn"):
        load_prompts(path)


@pytest.mark.parametrize("dialect", ["chat", "text"])
def test_sl_answers_critiques_and_revises_over_every_turn_and_rows_keep_them(bundle, conversation_file, tmp_path, dialect):
    record = load_prompts(conversation_file)[0]
    backend = Recorder()
    with RowWriter(tmp_path / "rows.jsonl") as writer:
        generate_sl([record], policy=backend, bundle=bundle, config=SLGenerationConfig(rounds=1, dialect=dialect), writer=writer)
    response, critique, revision = backend.prompts
    if dialect == "chat":
        # Real turns, not one user message full of "Assistant:".
        assert response == TURNS
        assert critique[: len(TURNS) + 1] == [*TURNS, {"role": "assistant", "content": "reply 1"}]
        assert all("Assistant:" not in m["content"] for m in critique)
        assert revision[: len(TURNS)] == TURNS
    else:
        assert response == TRANSCRIPT + "\n\nAssistant:"
        assert critique.startswith(TRANSCRIPT + "\n\nAssistant: reply 1\n\nCritiqueRequest:")
        assert TRANSCRIPT in revision
    (row,) = read_rows(tmp_path / "rows.jsonl")
    assert row["conversation"] == TURNS and row["prompt"] == TURNS[-1]["content"]
    assert row["messages"] == [*TURNS, {"role": "assistant", "content": row["final_response"]}]


@pytest.mark.parametrize("dialect", ["chat", "text"])
def test_rl_pairs_and_comparisons_see_the_whole_conversation(bundle, conversation_file, dialect):
    from cai_lang.codegen.templates import render_prompt

    record = load_prompts(conversation_file)[1]
    backend = Recorder()
    (pair,) = sample_chunk([record], policy=backend, bundle=bundle, config=RLGenerationConfig(dialect=dialect), chunk_index=0, policy_id="x")
    assert pair["conversation"] == TURNS
    assert backend.prompts[0] == (TURNS if dialect == "chat" else TRANSCRIPT + "\n\nAssistant:")
    compare = render_prompt(bundle, "harmless", "compare", dialect, conversation=pair["conversation"], response_a="A!", response_b="B!")
    text = compare if isinstance(compare, str) else "\n".join(m["content"] for m in compare)
    assert all(turn["content"] in text for turn in TURNS)
