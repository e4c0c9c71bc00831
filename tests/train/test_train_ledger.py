"""The row ledger and conversational SFT on the tiny model: loss on the revision only, and every row's fate
read back from the trainer's own processed dataset (kept, truncated, dropped) before training."""

from __future__ import annotations

import pytest
from conversation_kit import conversations

from cai_lang.train.sl.sft import SFTSettings, build_sft_trainer


def sl_rows(count=12, revision=lambda n: f"REVISED answer {n}"):
    rows = []
    for n, conv in enumerate(conversations(count)):
        turns = conv["messages"]
        # Distinctive original replies: if any of their tokens carried loss, the decoded labels would show them.
        turns = [{**m, "content": "ORIGINAL " + m["content"]} if m["role"] == "assistant" else m for m in turns]
        rows.append({"id": conv["id"], "kind": "red_team", "prompt": turns[-1]["content"], "conversation": turns,
                     "final_response": revision(n), "rounds": [{"revision": revision(n)}]})
    return rows


def _trainer(tiny_model, tmp_path, rows, max_length):
    return build_sft_trainer(rows, str(tiny_model), tmp_path / "out", SFTSettings(max_length=max_length, device="cpu"))


def test_sft_puts_loss_on_no_token_outside_the_revision(tiny_model, tmp_path):
    rows = sl_rows(8)
    trainer, tokenizer, *_ = _trainer(tiny_model, tmp_path, rows, None)
    used = trainer.train_dataset
    assert len(used) == len(rows)
    for row, example in zip(rows, used):
        conversation = row["conversation"]
        prompt_ids = tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
        labels = example["labels"]
        # Nothing of the conversation (user turns, the original replies, the template around them) carries loss ...
        assert all(label == -100 for label in labels[: len(prompt_ids)]), row["id"]
        # ... and what does is the revision (with the template's end of turn), every token of it.
        trained = tokenizer.decode([t for t in labels if t != -100])
        assert trained.startswith(row["final_response"]) and "ORIGINAL" not in trained, trained
        assert len(trained) - len(row["final_response"]) < 20


def test_sft_ledger_counts_equal_the_trainers_processed_dataset(tiny_model, tmp_path):
    # Row 1's revision is long, so a 400-token limit cuts it rather than dropping the row.
    rows = sl_rows(12, revision=lambda n: "REVISED " + "a careful and safe answer " * (40 if n == 1 else 1))
    trainer, _, _, _, ledger, _ = _trainer(tiny_model, tmp_path, rows, 400)
    used = trainer.train_dataset
    fates = {r.id: r for r in ledger.rows}
    assert ledger.trained == len(used) and ledger.summary()["trained"] == len(used)
    assert ledger.count("dropped") == len(rows) - len(used) > 0 and ledger.count("truncated") >= 1
    assert fates["conv-01"].fate == "truncated" and fates["conv-01"].trained_target_tokens < fates["conv-01"].target_tokens
    # The target tokens the ledger says are trained are the loss tokens of the trainer's own rows.
    loss_tokens = sum(sum(label != -100 for label in example["labels"]) for example in used)
    assert loss_tokens == sum(r.trained_target_tokens for r in ledger.rows)
    assert all(len(example["input_ids"]) <= 400 for example in used)
    for row in ledger.rows:
        if row.fate == "dropped":
            assert "no target token within max length 400" in row.reason and row.trained_target_tokens == 0
    assert [line for line in ledger.lines() if "dropped:" in line]


def test_without_a_max_length_nothing_that_fits_the_window_is_cut(tiny_model, tmp_path):
    rows = sl_rows(12)
    trainer, _, _, _, ledger, _ = _trainer(tiny_model, tmp_path, rows, None)
    assert ledger.max_length == ledger.window == 2048 and ledger.max_length_from == "model window"
    assert max(r.tokens for r in ledger.rows) > 1024  # rows the old 1,024 default cut
    assert ledger.count("kept") == len(rows) == len(trainer.train_dataset)


@pytest.mark.parametrize("targets, expected", [("final", 1), ("all", 2)])
def test_sft_targets_all_gives_one_trained_row_per_round(tiny_model, tmp_path, targets, expected):
    row = {**sl_rows(1)[0], "rounds": [{"revision": "first fix"}, {"revision": "second fix"}], "final_response": "second fix"}
    trainer, _, _, _, ledger, _ = build_sft_trainer([row], str(tiny_model), tmp_path / "o", SFTSettings(targets=targets, device="cpu"))
    assert len(trainer.train_dataset) == ledger.trained == expected
