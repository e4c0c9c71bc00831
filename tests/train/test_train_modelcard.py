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
