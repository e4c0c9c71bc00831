"""The preference model and policy optimisation: soft-label loss arithmetic, human-preference mixing,
and short real training runs on the tiny model (DPO, RLOO with the preference model, GRPO with the
labeller as reward), each leaving a folder the right Auto class loads, with the bundle hash on its card."""

from __future__ import annotations

import json
import math

import pytest
from rl_testkit import ControlledBackend, compile_test_bundle, expected_soft_label

from cai_lang.train.rl.aggregate import Aggregator
from cai_lang.train.rl.labeller import ComparisonLabeller
from cai_lang.train.rl.policy import (
    MethodUnavailable,
    PolicyTrainingConfig,
    dpo_rows,
    labeller_reward,
    ppo_status,
    train_policy,
)
from cai_lang.train.rl.preference import (
    PreferenceTrainingConfig,
    load_human_preferences,
    preference_rows,
    soft_label_trainer_class,
    split_rows,
    train_preference_model,
)
from cai_lang.train.rl.rewards import JudgementFailed

PROMPTS = [
    {"id": f"q{i}", "prompt": f"Question {i}: how should I store kitchen knives?", "context": {"risk": "low", "fiction": False}}
    for i in range(8)
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # On the shared 2-core test machines a second OpenMP thread waits on a
    # busy neighbour core: these runs took 27-68 s with two threads and a
    # steady 7 s with one.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("rl_bundle"))


@pytest.fixture(scope="module")
def provenance(rl_bundle):
    from cai_lang.train.modelcard import Provenance

    return Provenance.of_bundle(rl_bundle)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from cai_lang.engine.tiny import FALLBACK_TEXT, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", size="tiny", seed=0, corpus=[FALLBACK_TEXT])


def ai_rows(n=12, q=0.9):
    rows = []
    for i in range(n):
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"Question {i}: is this safe?"}],
                "chosen": [{"role": "assistant", "content": "yes yes yes, with care"}],
                "rejected": [{"role": "assistant", "content": "no no no"}],
                "soft_label": q,
                "source": "ai",
                "pair_id": f"p{i}",
            }
        )
    return rows


def assert_card(folder, bundle_hash):
    card = (folder / "README.md").read_text()
    assert bundle_hash in card and "rltest" in card
    assert json.loads((folder / "caic_training.json").read_text())["content_hash"] == bundle_hash
    # What a report needs: trl's state and the log history beside the model.
    assert json.loads((folder / "trainer_state.json").read_text())["log_history"]
    assert json.loads((folder / "training_log.json").read_text())["log_history"]


# ---------------------------------------------------------------- rows


def test_preference_rows_put_the_preferred_response_first():
    pairs = [
        {"id": "x", "conversation": [{"role": "user", "content": "Hi"}], "response_a": "A", "response_b": "B"},
        {"id": "y", "conversation": [{"role": "user", "content": "Yo"}], "response_a": "C", "response_b": "D"},
        {"id": "unlabelled", "conversation": [{"role": "user", "content": "?"}], "response_a": "E", "response_b": "F"},
    ]
    rows = preference_rows(pairs, [{"pair_id": "x", "p_a": 0.8}, {"pair_id": "y", "p_a": 0.3}])
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"], r["soft_label"]) for r in rows] == [("A", "B", 0.8), ("D", "C", pytest.approx(0.7))]
    assert rows[0]["prompt"] == [{"role": "user", "content": "Hi"}]


def test_human_preferences_load_as_certain_labels(tmp_path):
    path = tmp_path / "human.jsonl"
    path.write_text(
        json.dumps({"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}) + "\n\n"
        + json.dumps({"prompt": [{"role": "user", "content": "Yo"}], "chosen": [{"role": "assistant", "content": "Hey"}], "rejected": "..."}) + "\n"
    )
    rows = load_human_preferences(path)
    assert [r["soft_label"] for r in rows] == [1.0, 1.0] and {r["source"] for r in rows} == {"human"}
    assert rows[0]["prompt"] == [{"role": "user", "content": "Hi"}] and rows[0]["chosen"] == [{"role": "assistant", "content": "Hello!"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "Hi", "chosen": "x"}) + "\n")
    with pytest.raises(ValueError, match="rejected"):
        load_human_preferences(bad)


def test_split_is_seeded_and_holds_out_at_least_one_row():
    rows = [{"i": i} for i in range(10)]
    train, held = split_rows(rows, 0.2, seed=3)
    assert len(held) == 2 and len(train) == 8 and split_rows(rows, 0.2, seed=3) == (train, held)
    assert len(split_rows(rows[:3], 0.1)[1]) == 1
    assert split_rows(rows, 0.0)[1] == []


def test_dpo_rows_skip_near_ties_and_orient_pairs():
    rows = ai_rows(1, 0.9) + ai_rows(1, 0.55) + ai_rows(1, 0.2) + ai_rows(1, 0.5)
    kept = dpo_rows(rows, tie_margin=0.1)
    assert len(kept) == 2
    assert kept[0]["chosen"][0]["content"].startswith("yes") and kept[1]["chosen"][0]["content"] == "no no no"
    assert len(dpo_rows(rows, tie_margin=0.0)) == 3  # an exact tie is never a DPO pair


# ---------------------------------------------------------------- the soft-label loss


def test_soft_label_loss_is_bce_on_the_reward_difference(tiny_dir, tmp_path):
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig

    from cai_lang.train.hardware import resolve

    rows = ai_rows(4)
    for row, q in zip(rows, (0.9, 0.6, 1.0, 0.75)):
        row["soft_label"] = q
    trainer = soft_label_trainer_class()(
        model=str(tiny_dir),
        args=RewardConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=1, report_to="none", **resolve().trainer_args()),
        train_dataset=Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected", "soft_label")} for r in rows]),
        processing_class=AutoTokenizer.from_pretrained(str(tiny_dir)),
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert sorted(batch["soft_label"].tolist()) == pytest.approx([0.6, 0.75, 0.9, 1.0])
    model = trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        hard = super(type(trainer), trainer).compute_loss(model, {k: v for k, v in batch.items() if k != "soft_label"})
        rewards = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    chosen, rejected = rewards.chunk(2)
    diff = (chosen - rejected).tolist()
    q = batch["soft_label"].tolist()
    expected = -sum(qi * math.log(1 / (1 + math.exp(-d))) + (1 - qi) * math.log(1 - 1 / (1 + math.exp(-d))) for qi, d in zip(q, diff)) / 4
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # With every label 1 the soft loss is trl's Bradley-Terry loss.
    with torch.no_grad():
        certain = trainer.compute_loss(model, {**batch, "soft_label": torch.ones(4)})
    assert float(certain) == pytest.approx(float(hard), rel=1e-5)


@pytest.mark.slow
def test_preference_model_learns_from_soft_labels_mixed_with_human_rows(tiny_dir, tmp_path, rl_bundle, provenance):
    from transformers import AutoModelForSequenceClassification

    human = tmp_path / "human.jsonl"
    human.write_text("".join(json.dumps({"prompt": f"Q{i}?", "chosen": "yes yes yes, with care", "rejected": "no no no"}) + "\n" for i in range(4)))
    rows = ai_rows(24, 0.8) + load_human_preferences(human)
    config = PreferenceTrainingConfig(output_dir=str(tmp_path / "pm"), max_steps=30, learning_rate=3e-3, batch_size=8, eval_fraction=0.2, logging_steps=10)
    result = train_preference_model(tiny_dir, rows, config, provenance=provenance)
    assert result.heldout_rows == 6 and result.train_rows == 22
    assert result.heldout_accuracy == 1.0
    model = AutoModelForSequenceClassification.from_pretrained(str(result.output_dir))
    assert model.config.num_labels == 1 and model.config.pad_token_id is not None
    assert_card(result.output_dir, rl_bundle.content_hash)
    metadata = json.loads((result.output_dir / "caic_training.json").read_text())
    assert metadata["data"]["human_rows"] > 0 and metadata["metrics"]["heldout_pairwise_accuracy"] == 1.0
    assert metadata["kind"] == "preference_model" and result.human_rows > 0


# ---------------------------------------------------------------- policy optimisation


@pytest.mark.slow
def test_dpo_saves_a_causal_lm_with_the_bundle_hash(tiny_dir, tmp_path, rl_bundle, provenance):
    from transformers import AutoModelForCausalLM

    config = PolicyTrainingConfig(output_dir=str(tmp_path / "dpo"), max_steps=2, batch_size=4)
    out = train_policy(tiny_dir, config, provenance=provenance, preference_rows=ai_rows(6) + ai_rows(2, 0.52)).output_dir
    AutoModelForCausalLM.from_pretrained(str(out))
    assert_card(out, rl_bundle.content_hash)
    assert json.loads((out / "caic_training.json").read_text())["data"]["skipped_near_ties"] == 2


@pytest.mark.slow
def test_rloo_with_the_preference_model_as_reward(tiny_dir, tmp_path, rl_bundle, provenance):
    from transformers import AutoModelForCausalLM

    pm = train_preference_model(
        tiny_dir, ai_rows(8), PreferenceTrainingConfig(output_dir=str(tmp_path / "pm"), max_steps=1, batch_size=4, eval_fraction=0.0), provenance=provenance
    ).output_dir
    config = PolicyTrainingConfig(output_dir=str(tmp_path / "rloo"), method="rloo", max_steps=2, batch_size=4, num_generations=2, max_completion_length=8)
    out = train_policy(tiny_dir, config, provenance=provenance, prompts=PROMPTS, reward=pm).output_dir
    AutoModelForCausalLM.from_pretrained(str(out))
    assert_card(out, rl_bundle.content_hash)


@pytest.mark.slow
def test_grpo_with_the_labeller_as_reward(tiny_dir, tmp_path, rl_bundle, provenance):
    from transformers import AutoModelForCausalLM

    from cai_lang.engine.local import LocalBackend

    labeller = ComparisonLabeller.from_backends(rl_bundle, LocalBackend(str(tiny_dir), device="cpu"))
    config = PolicyTrainingConfig(output_dir=str(tmp_path / "grpo"), method="grpo", max_steps=2, batch_size=4, num_generations=2, max_completion_length=8)
    out = train_policy(tiny_dir, config, provenance=provenance, prompts=PROMPTS, reward=labeller_reward(labeller, Aggregator(rl_bundle, "priority"))).output_dir
    AutoModelForCausalLM.from_pretrained(str(out))
    assert_card(out, rl_bundle.content_hash)
    assert "labeller" in (out / "README.md").read_text()


def test_labeller_reward_is_the_mean_win_probability_within_each_prompt_group(rl_bundle):
    quality = {"good": 2.0, "fair": 1.0, "poor": 0.0, "x": 0.0, "y": 1.0}
    labeller = ComparisonLabeller(rl_bundle, [ControlledBackend(quality, position_bias=0.5)])
    reward = labeller_reward(labeller, Aggregator(rl_bundle, "sample"))
    one = [{"role": "user", "content": "Knives?"}]
    two = [{"role": "user", "content": "Forks?"}]
    prompts = [one, one, two, one, two]
    completions = [[{"role": "assistant", "content": c}] for c in ("good", "fair", "x", "poor", "y")]
    context = [json.dumps({"risk": "low", "fiction": False})] * 5
    got = reward(prompts, completions, context=context)

    def p(a, b):
        return expected_soft_label(quality[a], quality[b], 0.5)

    assert got == pytest.approx(
        [(p("good", "fair") + p("good", "poor")) / 2, (p("fair", "good") + p("fair", "poor")) / 2, p("x", "y"), (p("poor", "good") + p("poor", "fair")) / 2, p("y", "x")]
    )
    # A lone completion has nothing to be compared with: the run stops rather than train on a made-up 0.5.
    with pytest.raises(JudgementFailed, match="reference"):
        reward([one], [[{"role": "assistant", "content": "good"}]])


def test_ppo_is_refused_with_the_reason():
    problem = ppo_status()
    assert problem is not None and "PPOTrainer" in problem
    with pytest.raises(MethodUnavailable, match="rloo or grpo"):
        train_policy("unused", PolicyTrainingConfig(output_dir="unused", method="ppo"), provenance=None)


def test_methods_check_their_inputs():
    with pytest.raises(ValueError, match="preference rows"):
        train_policy("unused", PolicyTrainingConfig(output_dir="unused"), provenance=None)
    with pytest.raises(ValueError, match="reward"):
        train_policy("unused", PolicyTrainingConfig(output_dir="unused", method="grpo"), provenance=None, prompts=PROMPTS)


@pytest.mark.slow
def test_a_model_without_a_chat_template_trains_on_the_papers_text_format(tiny_dir, tmp_path, provenance):
    import shutil

    from transformers import AutoTokenizer

    from cai_lang.train.rl.preference import (
        as_text,
        load_preference_model,
        reward_scores,
    )

    base = tmp_path / "base"
    shutil.copytree(tiny_dir, base)
    (base / "chat_template.jinja").unlink()
    assert not AutoTokenizer.from_pretrained(str(base)).chat_template
    row = ai_rows(1)[0]
    assert as_text(row) == {"prompt": "Human: Question 0: is this safe?\n\nAssistant:", "chosen": " yes yes yes, with care", "rejected": " no no no"}
    pm = train_preference_model(base, ai_rows(8), PreferenceTrainingConfig(output_dir=str(tmp_path / "pm"), max_steps=1, batch_size=4, eval_fraction=0.25), provenance=provenance)
    assert pm.heldout_rows == 2 and pm.heldout_accuracy is not None
    model, tokenizer = load_preference_model(pm.output_dir)
    conversation = row["prompt"] + row["chosen"]
    assert len(reward_scores(model, tokenizer, [conversation])) == 1
    out = train_policy(base, PolicyTrainingConfig(output_dir=str(tmp_path / "dpo"), max_steps=1, batch_size=4), provenance=provenance, preference_rows=ai_rows(4)).output_dir
    assert (out / "training_log.json").is_file()


def test_heldout_accuracy_is_reported_on_decided_rows_and_on_all_rows_apart(monkeypatch):
    import cai_lang.train.rl.preference as preference

    def rows(q, chosen, rejected):
        return {"prompt": [{"role": "user", "content": "p"}], "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}], "soft_label": q}

    # A preference model stand-in: the reward is the response's length.
    monkeypatch.setattr(preference, "reward_scores", lambda model, tokenizer, conversations, **kw: [float(len(c[-1]["content"])) for c in conversations])
    # Two decided rows ranked right, two near-ties (0.52, 0.48) ranked wrong, one exact tie skipped.
    data = [rows(0.9, "long answer", "short"), rows(0.2, "x", "longer"), rows(0.52, "x", "longer"),
            rows(0.48, "longer", "x"), rows(0.5, "a", "b")]
    figures = preference.heldout_accuracy(object(), data)
    assert figures["all"] == 0.5 and figures["all_rows"] == 4
    assert figures["decided"] == 1.0 and figures["decided_rows"] == 2
