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
