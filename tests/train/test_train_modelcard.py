"""One card writer for every model caic trains: the bundle hash, the kind, and the random-weights warning that
follows a test model through SL and RL."""

from __future__ import annotations

import json

import pytest

from cai_lang.train.modelcard import (
    KINDS,
    RANDOM_MODEL_TAG,
    CardFacts,
    Provenance,
    is_random_test_model,
    write_model_card,
)

PROVENANCE = Provenance("trainbot", "0.1.0", "clinic", "ab" * 32, "/runs/x")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_of_card_names_the_constitution_and_its_hash(tmp_path, kind):
    facts = CardFacts(PROVENANCE, kind, base_model="org/base", method="DPO", data={"pairs": 3}, metrics={"train_loss": 0.5})
    card = write_model_card(tmp_path, facts).read_text()
    assert "ab" * 32 in card and "trainbot" in card and "clinic" in card and "base_model: org/base" in card
    assert KINDS[kind]["title"] in card and "- pairs: 3" in card and "- train loss: 0.5" in card
    assert RANDOM_MODEL_TAG not in card
    metadata = json.loads((tmp_path / "caic_training.json").read_text())
    assert metadata["kind"] == kind and metadata["content_hash"] == "ab" * 32 and metadata["metrics"] == {"train_loss": 0.5}


def test_the_random_weights_warning_follows_a_test_model_into_every_model_trained_from_it(tmp_path):
    base = tmp_path / "tiny"
    base.mkdir()
    (base / "README.md").write_text(f"tags: [{RANDOM_MODEL_TAG}]")
    sl = tmp_path / "sl"
    sl.mkdir()
    write_model_card(sl, CardFacts(PROVENANCE, "sft_model", base_model=str(base), method="SFT"))
    assert is_random_test_model(sl)
    policy = tmp_path / "policy"
    policy.mkdir()
    card = write_model_card(policy, CardFacts(PROVENANCE, "policy", base_model=str(sl), method="DPO")).read_text()
    assert "**The base model has random weights." in card and "base_model:" not in card


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        CardFacts(PROVENANCE, "judge", base_model="x", method="y")


def _run_with_bundle(tmp_path, constitution_file, sources):
    from cai_lang.train.run.session import Run

    run = Run.open(tmp_path / "run")
    bundle, _ = run.bundle_for(constitution_file, "clinic")
    run.record_bundle(constitution_file, 0)
    run.record.set("sl_generation", {"prompts": {"sources": sources, "helpful": "helpful"}})
    run.save()
    return Provenance.of_bundle(bundle, run.folder)


def test_the_card_carries_the_hubs_metadata_and_parses_with_its_loader(tmp_path, constitution_file):
    from huggingface_hub import ModelCard

    provenance = _run_with_bundle(tmp_path, constitution_file, ["red_team", "org/red-team-prompts"])
    out = tmp_path / "model"
    out.mkdir()
    write_model_card(out, CardFacts(provenance, "policy", base_model="Qwen/Qwen2.5-0.5B-Instruct", method="DPO"), where="me/trainbot-dpo")
    card = ModelCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct" and data["base_model_relation"] == "finetune"
    assert data["datasets"] == ["org/red-team-prompts"]  # the shipped set is not a Hub dataset
    assert {"caic", "constitutional-ai", "dpo"} <= set(data["tags"]) and RANDOM_MODEL_TAG not in data["tags"]
    assert data["license"] == "other" and data["library_name"] == "transformers" and data["pipeline_tag"] == "text-generation"
    assert provenance.content_hash in card.text
    for item in ("harmless", "accurate", "concise", "escalate"):
        assert f"| `{item}` |" in card.text
    assert 'pipeline("text-generation", model="me/trainbot-dpo")' in card.text


def test_a_local_base_passes_on_its_hub_lineage_and_licence(tmp_path, constitution_file):
    from huggingface_hub import ModelCard

    provenance = _run_with_bundle(tmp_path, constitution_file, ["red_team"])
    sl = tmp_path / "sl"
    sl.mkdir()
    (sl / "README.md").write_text("---\nbase_model: org/base\nlicense: mit\n---\n# sl\n")
    pm = tmp_path / "pm"
    pm.mkdir()
    write_model_card(pm, CardFacts(provenance, "preference_model", base_model=str(sl), method="reward modelling"))
    data = ModelCard.load(pm / "README.md").data.to_dict()
    assert data["base_model"] == "org/base" and data["license"] == "mit" and "datasets" not in data
    assert data["pipeline_tag"] == "text-classification"
    assert f'AutoModelForSequenceClassification.from_pretrained("{pm}")' in (pm / "README.md").read_text()


def test_a_random_base_model_card_says_so_in_its_metadata(tmp_path, tiny_model, constitution_file):
    from huggingface_hub import ModelCard

    out = tmp_path / "sl"
    out.mkdir()
    write_model_card(out, CardFacts(_run_with_bundle(tmp_path, constitution_file, ["red_team"]), "sft_model", base_model=str(tiny_model), method="SFT"))
    data = ModelCard.load(out / "README.md").data.to_dict()
    assert RANDOM_MODEL_TAG in data["tags"] and "base_model" not in data and data["license"] == "apache-2.0"
