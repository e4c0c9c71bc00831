"""Prompt sets: the shipped sets, user files in three formats, splits, and the seeded mix."""

from __future__ import annotations

import csv
import json

import pytest

from cai_lang.train.run.prompts import (
    PromptSelection,
    PromptSetError,
    load_prompts,
    select_prompts,
    select_prompts_with_summary,
)


def test_shipped_sets_load_by_name_with_kinds_and_labels():
    red = load_prompts("red_team")
    helpful = load_prompts("helpful")
    assert len(red) == 240 and len(helpful) == 160
    assert {r.kind for r in red} == {"red_team"} and {r.kind for r in helpful} == {"helpful"}
    assert all("topic" in r.context and "risk" in r.context for r in red)
    train = load_prompts("red_team", split="train")
    held_out = load_prompts("red_team", split="eval")
    assert len(train) + len(held_out) == 240 and held_out and all(r.split == "eval" for r in held_out)


def test_jsonl_rows_get_default_ids_kind_and_split(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(
        json.dumps({"prompt": "How do I pick a lock?", "context": {"topic": "general"}}) + "\n\n"
        + json.dumps({"id": "x7", "prompt": "Tell me a joke", "kind": "helpful", "split": "eval"}) + "\n",
        encoding="utf-8",
    )
    first, second = load_prompts(path)
    assert (first.id, first.kind, first.split, first.context) == ("mine-0001", "red_team", "train", {"topic": "general"})
    assert (second.id, second.kind, second.split, second.context) == ("x7", "helpful", "eval", {})
    assert [r.id for r in load_prompts(path, split="train")] == ["mine-0001"]


def test_csv_takes_context_as_json_or_as_prefixed_columns(tmp_path):
    path = tmp_path / "set.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt", "context", "context.emergency", "split"])
        writer.writerow(["c1", "My chest hurts", '{"topic": "medical"}', "true", "train"])
        writer.writerow(["c2", "Write a poem", "", "", ""])
    first, second = load_prompts(path, kind="helpful")
    assert first.context == {"topic": "medical", "emergency": True} and first.kind == "helpful"
    assert second.context == {} and second.split == "train"


def test_a_datasets_folder_loads_and_drops_missing_labels(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = [
        {"id": "d1", "prompt": "one", "context": {"topic": "medical", "emergency": True}},
        {"id": "d2", "prompt": "two", "context": {"topic": "general", "emergency": None}},
    ]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "flat"))
    loaded = load_prompts(tmp_path / "flat")
    assert [r.id for r in loaded] == ["d1", "d2"] and loaded[1].context == {"topic": "general"}
    DatasetDict({"train": Dataset.from_list(rows[:1]), "eval": Dataset.from_list(rows[1:])}).save_to_disk(str(tmp_path / "dict"))
    assert [r.id for r in load_prompts(tmp_path / "dict", split="eval")] == ["d2"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a"}\n', "no `prompt`"),
        ('{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n', "more than once"),
        ("not json\n", "not JSON"),
        ('{"prompt": "x", "kind": "evil"}\n', "kind"),
        ('{"prompt": "x", "context": [1]}\n', "context"),
    ],
)
def test_bad_prompt_files_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptSetError, match=message):
        load_prompts(path)


def test_a_missing_source_names_the_choices(tmp_path):
    with pytest.raises(PromptSetError, match="red_team"):
        load_prompts(tmp_path / "nope.jsonl")
    with pytest.raises(PromptSetError, match="split"):
        load_prompts("red_team", split="test")


def test_selection_is_seeded_capped_and_keeps_the_helpful_share():
    selection = PromptSelection(max_prompts=20, helpful_fraction=0.25, seed=3)
    chosen = select_prompts(selection)
    assert [r.id for r in chosen] == [r.id for r in select_prompts(selection)]
    assert len(chosen) == 20 and sum(r.kind == "helpful" for r in chosen) == 5
    assert len({r.id for r in chosen}) == 20
    assert {r.split for r in chosen} == {"train"}
    other = select_prompts(PromptSelection(max_prompts=20, helpful_fraction=0.25, seed=4))
    assert [r.id for r in other] != [r.id for r in chosen]


def test_without_a_cap_every_red_team_prompt_is_used_plus_the_helpful_share():
    chosen = select_prompts(PromptSelection(helpful_fraction=0.2))
    red = [r for r in chosen if r.kind == "red_team"]
    helpful = [r for r in chosen if r.kind == "helpful"]
    assert len(red) == len(load_prompts("red_team", split="train"))
    assert len(helpful) == round(len(red) * 0.2 / 0.8)


def test_helpful_mixing_can_be_turned_off(tmp_path):
    assert {r.kind for r in select_prompts(PromptSelection(helpful=None, max_prompts=10))} == {"red_team"}
    assert {r.kind for r in select_prompts(PromptSelection(helpful_fraction=0.0, max_prompts=10))} == {"red_team"}
    with pytest.raises(PromptSetError):
        PromptSelection(helpful_fraction=1.0)


def test_ids_clashing_across_sources_are_refused(tmp_path):
    path = tmp_path / "clash.jsonl"
    path.write_text(json.dumps({"id": "rt-0001", "prompt": "again"}) + "\n", encoding="utf-8")
    with pytest.raises(PromptSetError, match="rt-0001"):
        select_prompts(PromptSelection(sources=("red_team", str(path)), split="all", helpful=None))


# ---------------------------------------------------------------- a user's file is used as given or refused


def _write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_a_file_of_eval_rows_is_refused_for_training_not_replaced_by_shipped_prompts(tmp_path):
    path = tmp_path / "held_out.jsonl"
    _write_rows(path, [{"prompt": f"question {i}", "split": "eval"} for i in range(3)])
    with pytest.raises(PromptSetError, match=r"no row has split 'train' \(its rows: eval: 3"):
        select_prompts(PromptSelection(sources=(str(path),)))
    chosen, summary = select_prompts_with_summary(PromptSelection(sources=(str(path),), split="eval", helpful=None))
    assert sorted(r.prompt for r in chosen) == ["question 0", "question 1", "question 2"]
    assert {r.source for r in chosen} == {str(path)}
    assert summary == ["prompts: 3 selected (split eval)", f"  {path}: 3 of 3 eval red_team"]


def test_rows_without_a_split_are_training_rows_and_the_summary_counts_each_source(tmp_path):
    path = tmp_path / "mine.jsonl"
    _write_rows(path, [{"prompt": f"q{i}"} for i in range(6)])
    chosen, summary = select_prompts_with_summary(PromptSelection(sources=(str(path),), helpful_fraction=0.25, seed=1))
    assert sum(r.kind == "red_team" for r in chosen) == 6 and sum(r.kind == "helpful" for r in chosen) == 2
    assert summary == [
        "prompts: 8 selected (split train)",
        f"  {path}: 6 of 6 train red_team",
        "  helpful (shipped with caic): 2 of 127 train helpful",
    ]
    with pytest.raises(PromptSetError, match="a row without `split` counts as train"):
        load_prompts(path, split="eval")


def test_a_datasets_folder_with_hub_split_names_maps_them_or_refuses(tmp_path):
    from datasets import Dataset, DatasetDict

    parts = {
        "train_sft": Dataset.from_list([{"prompt": "a"}, {"prompt": "b"}]),
        "test_sft": Dataset.from_list([{"prompt": "c"}]),
    }
    DatasetDict(parts).save_to_disk(str(tmp_path / "hub"))
    assert [r.prompt for r in load_prompts(tmp_path / "hub", split="train")] == ["a", "b"]
    assert [r.prompt for r in load_prompts(tmp_path / "hub", split="eval")] == ["c"]
    DatasetDict({"train_sft": parts["train_sft"], "extra": parts["test_sft"]}).save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(PromptSetError, match="split 'extra' is neither a training split"):
        load_prompts(tmp_path / "odd")


def test_a_bom_is_accepted_and_invalid_utf8_is_reported_by_line(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"prompt": "caf\u00e9"}).encode("utf-8") + b"\n")
    assert [r.prompt for r in load_prompts(path)] == ["caf\u00e9"]
    csv_path = tmp_path / "bom.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfprompt,split\nhello,train\n")
    assert [r.prompt for r in load_prompts(csv_path)] == ["hello"]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n')
    with pytest.raises(PromptSetError, match=r"bad.jsonl:2:16: not valid UTF-8 \(byte 0xe9\)"):
        load_prompts(bad)
