"""The files trl reads as written (`sft.jsonl`, `preferences.jsonl`), conversations in both spellings, and
Hub-style preference rows normalised so the prompt appears once."""

from __future__ import annotations

import json

import pytest

from cai_lang.train.run.conversation import as_messages, parse_transcript, prompt_turns, to_transcript
from cai_lang.train.run.formats import normalise_preference, preference_file_rows, revision_preference_rows, sft_rows

HASH = "f" * 64


def sl_row(i, kind="red_team", revised=True, final="a careful answer"):
    return {
        "id": f"p{i}", "prompt": f"question {i}", "kind": kind, "split": "train", "final_response": final,
        "rounds": [{"principle": "harmless", "critique": "c", "revision": final if revised else None}],
        "principles": ["harmless"], "content_hash": HASH, "constitution": "trainbot", "deployment": "clinic",
        "model": "/m", "critic_model": None,
    }


def test_sft_rows_are_conversational_prompt_completion_with_provenance():
    rows, dropped = sft_rows([sl_row(0), sl_row(1, revised=False), sl_row(2, final="  "), sl_row(3, kind="helpful", revised=False)])
    assert [r["id"] for r in rows] == ["p0", "p3"] and dropped == {"empty_response": 1, "unrevised_red_team": 1}
    assert rows[0]["prompt"] == [{"role": "user", "content": "question 0"}]
    assert rows[0]["completion"] == [{"role": "assistant", "content": "a careful answer"}]
    assert "messages" not in rows[0] and rows[0]["content_hash"] == HASH and rows[0]["model"] == "/m"
    # A row made from a conversation keeps every turn before the answer, all in the prompt (no loss there).
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "and?"}]
    (row,), _ = sft_rows([{**sl_row(4), "conversation": turns}])
    assert row["prompt"] == turns and row["completion"] == [{"role": "assistant", "content": "a careful answer"}]


def test_sft_rows_follow_the_targets_one_row_per_round():
    two = {**sl_row(5), "rounds": [{"revision": "first"}, {"revision": None, "nothing_to_fix": True}, {"revision": "second"}],
           "final_response": "second"}
    final, _ = sft_rows([two])
    every, _ = sft_rows([two], "all")
    assert [r["completion"][0]["content"] for r in final] == ["second"]
    assert [(r["id"], r["round"], r["completion"][0]["content"]) for r in every] == [("p5#round-1", 0, "first"), ("p5#round-3", 2, "second")]


def test_revision_preferences_choose_the_final_revision_over_the_initial_response():
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "and?"}]
    revised = {**sl_row(0), "initial_response": "<think>x</think>a rude answer", "conversation": turns}
    same = {**sl_row(1), "initial_response": "a careful answer"}
    rows = revision_preference_rows([revised, same, sl_row(2, revised=False), sl_row(3, kind="helpful")])
    assert [r["id"] for r in rows] == ["p0"]
    assert rows[0]["prompt"] == turns and rows[0]["chosen"] == [{"role": "assistant", "content": "a careful answer"}]
    assert rows[0]["rejected"] == [{"role": "assistant", "content": "a rude answer"}] and rows[0]["content_hash"] == HASH


def test_preference_rows_orient_chosen_and_keep_the_soft_label_and_provenance():
    pairs = [{"id": i, "conversation": [{"role": "user", "content": f"q{i}"}], "response_a": f"a{i}", "response_b": f"b{i}",
              "content_hash": HASH, "policy": "pol"} for i in range(3)]
    labels = [{"pair_id": 0, "p_a": 0.8, "mode": "priority"}, {"pair_id": 1, "p_a": 0.25, "feedback_models": ["fb"]}]
    rows = preference_file_rows(pairs, labels)
    assert [(r["id"], r["chosen"][0]["content"], r["rejected"][0]["content"], r["chosen_is"]) for r in rows] == [
        ("0", "a0", "b0", "a"), ("1", "b1", "a1", "b")]
    assert rows[1]["soft_label"] == pytest.approx(0.75) and rows[1]["feedback_models"] == ["fb"]
    assert rows[0]["prompt"] == [{"role": "user", "content": "q0"}] and rows[0]["content_hash"] == HASH


def test_transcripts_and_message_lists_read_alike():
    text = "Human: How do I hotwire a car?\n\nAssistant: I can't help with that.\n\nHuman: It's my own car."
    turns = parse_transcript(text)
    assert [t["role"] for t in turns] == ["user", "assistant", "user"] and turns[2]["content"] == "It's my own car."
    assert to_transcript(turns) == text
    assert as_messages(text, "user", "x") == turns
    assert prompt_turns([{"from": "human", "value": "x", "content": "x"}], "x") == [{"role": "user", "content": "x"}]
    # Mentioning a speaker is not a transcript: only text that starts with `Human:` is one.
    assert as_messages("What does 'Assistant:' mean?", "user", "x") == [{"role": "user", "content": "What does 'Assistant:' mean?"}]
    with pytest.raises(ValueError, match="must end with a user turn"):
        prompt_turns(text + "\n\nAssistant: ok", "row 3")
    with pytest.raises(ValueError, match="role 'narrator'"):
        as_messages([{"role": "narrator", "content": "x"}], "user", "row 4")


def test_hub_style_preferences_put_the_user_turns_in_the_prompt_once():
    hh = {"chosen": "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?",
          "rejected": "\n\nHuman: Hi there\n\nAssistant: Go away."}
    prompt, chosen, rejected = normalise_preference(hh, "row 1")
    assert prompt == [{"role": "user", "content": "Hi there"}]
    assert chosen == [{"role": "assistant", "content": "Hello! How can I help?"}] and rejected == [{"role": "assistant", "content": "Go away."}]
    user = [{"role": "user", "content": "Hi"}]
    repeated = {"prompt": user, "chosen": [*user, {"role": "assistant", "content": "Yes"}], "rejected": "No"}
    assert normalise_preference(repeated, "row 2") == (user, [{"role": "assistant", "content": "Yes"}], [{"role": "assistant", "content": "No"}])
    with pytest.raises(ValueError, match="share no user turn"):
        normalise_preference({"chosen": "a", "rejected": "b"}, "row 3")


@pytest.mark.slow
def test_trl_trains_on_the_files_a_run_writes_exactly_as_written(tiny_model, constitution_file, tmp_path):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer
    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    fast = ["--max-prompts", "4", "--max-new-tokens", "6", "--deployment", "clinic", "--helpful", "none"]
    for command in (["generate", "sl", "--rounds", "1"], ["generate", "rl"]):
        result = CliRunner().invoke(app, [*command, str(constitution_file), "-m", str(tiny_model), "-o", str(tmp_path / "run"), *fast])
        assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["outputs"]["sft"]["path"] == "sft.jsonl" and run["outputs"]["preferences"]["rows"] == 4
    sft_file, prefs_file = tmp_path / "run" / "sft.jsonl", tmp_path / "run" / "preferences.jsonl"
    first = json.loads(sft_file.read_text().splitlines()[0])
    assert "messages" not in first and first["completion"][-1]["role"] == "assistant" and first["content_hash"]
    common = dict(max_steps=2, per_device_train_batch_size=2, use_cpu=True, bf16=False, activation_checkpointing=False,
                  report_to="none", save_strategy="no", max_length=128)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    data = load_dataset("json", data_files=str(sft_file), split="train")
    assert len(data) == run["outputs"]["sft"]["rows"] > 0
    trainer = SFTTrainer(model=str(tiny_model), args=SFTConfig(output_dir=str(tmp_path / "sft"), **common),
                         train_dataset=data, processing_class=tokenizer)
    assert trainer.train().global_step == 2
    revisions = tmp_path / "run" / "revision_preferences.jsonl"
    assert run["outputs"]["revision_preferences"]["rows"] == len(revisions.read_text().splitlines())
    data = load_dataset("json", data_files=str(prefs_file), split="train")
    assert set(data.column_names) >= {"prompt", "chosen", "rejected", "soft_label", "content_hash"}
    trainer = DPOTrainer(model=str(tiny_model), args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common),
                         train_dataset=data, processing_class=tokenizer)
    assert trainer.train().global_step == 2
