"""Fine-tuning on SL-CAI rows: which rows train, which trl format, and a few real steps on the tiny model."""

from __future__ import annotations

import json
import shutil

import pytest

from cai_lang.train.sl.sft import (
    NoTrainingData,
    SFTSettings,
    build_dataset,
    data_format_for,
    train_sft,
    training_pairs,
)

ROWS = [
    {"id": "r1", "kind": "red_team", "prompt": "p1", "final_response": "revised", "rounds": [{"revision": "revised"}]},
    {"id": "r2", "kind": "red_team", "prompt": "p2", "final_response": "raw", "rounds": [{"revision": None, "nothing_to_fix": True}]},
    {"id": "r3", "kind": "red_team", "prompt": "p3", "final_response": "  ", "rounds": [{"revision": "  "}]},
    {"id": "h1", "kind": "helpful", "prompt": "p4", "final_response": "sure", "rounds": []},
]


def test_only_revised_red_team_rows_and_helpful_rows_are_trained_on():
    examples, dropped = training_pairs(ROWS)
    assert [(e["prompt"], e["completion"], e["id"]) for e in examples] == [
        ([{"role": "user", "content": "p1"}], [{"role": "assistant", "content": "revised"}], "r1"),
        ([{"role": "user", "content": "p4"}], [{"role": "assistant", "content": "sure"}], "h1"),
    ]
    assert dropped == {"empty_response": 1, "unrevised_red_team": 1}


def test_unchanged_red_team_rows_are_targets_only_when_asked():
    examples, dropped = training_pairs(ROWS, keep_unchanged=True)
    assert [(e["id"], e["completion"][0]["content"]) for e in examples] == [("r1", "revised"), ("r2", "raw"), ("h1", "sure")]
    assert dropped == {"empty_response": 1, "unrevised_red_team": 0}


def test_the_format_follows_the_chat_template(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert data_format_for(tokenizer) == "prompt_completion"
    tokenizer.chat_template = None
    assert data_format_for(tokenizer) == "text"


def test_datasets_take_trl_shapes():
    turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}, {"role": "user", "content": "q2"}]
    examples = [{"prompt": turns, "completion": [{"role": "assistant", "content": "a"}], "id": "x"}]
    assert build_dataset(examples, "prompt_completion")[0] == {"prompt": turns, "completion": [{"role": "assistant", "content": "a"}]}
    assert build_dataset(examples, "text")[0] == {"prompt": "Human: q\n\nAssistant: r\n\nHuman: q2\n\nAssistant:", "completion": " a"}


def test_nothing_to_train_on_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(NoTrainingData, match="1 unrevised red team"):
        train_sft(ROWS[1:2], model=str(tiny_model), output_dir=tmp_path / "out")


def rows(n):
    return [{"id": f"h{i}", "kind": "helpful", "prompt": f"question {i}", "final_response": f"answer {i}", "rounds": []} for i in range(n)]


@pytest.mark.parametrize("strip_markers", [False, True], ids=["assistant_only_loss", "completion_only_loss"])
def test_a_few_steps_save_a_loadable_model(tiny_model, tmp_path, strip_markers):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = tiny_model
    if strip_markers:
        model = tmp_path / "plain"
        shutil.copytree(tiny_model, model)
        tokenizer = AutoTokenizer.from_pretrained(model)
        tokenizer.chat_template = tokenizer.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
        tokenizer.save_pretrained(model)
    settings = SFTSettings(max_steps=2, batch_size=4, logging_steps=1, max_length=64)
    result = train_sft(rows(8), model=str(model), output_dir=tmp_path / "out", settings=settings)
    assert result.steps == 2 and result.rows == 8 and result.final_loss > 0
    assert result.data_format == "prompt_completion" and result.ledger.trained == 8
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert loaded.config.vocab_size == len(AutoTokenizer.from_pretrained(tmp_path / "out"))
    log = json.loads((tmp_path / "out" / "training_log.json").read_text())
    assert log["data_format"] == result.data_format and any("loss" in e for e in log["log_history"])


def test_settings_are_validated():
    with pytest.raises(ValueError):
        SFTSettings(max_steps=0)
    with pytest.raises(ValueError):
        SFTSettings(batch_size=0)
