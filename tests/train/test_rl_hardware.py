"""The RL trainers on real-hardware settings: CoT labels that DPO can use, GRPO reward scaling for the
labeller, LoRA adapters for DPO and the preference model, device and precision recorded, and no model
left alive after a trainer returns."""

from __future__ import annotations

import gc
import json

import pytest
from rl_testkit import ControlledBackend, compile_test_bundle

from cai_lang.train.hardware import HardwareSettings, LoraSettings, is_adapter
from cai_lang.train.rl.aggregate import Aggregator, label_pairs
from cai_lang.train.rl.labeller import ComparisonLabeller
from cai_lang.train.rl.policy import (
    PolicyTrainingConfig,
    dpo_rows,
    effective_tie_margin,
    is_near_tie,
    online_args,
    train_policy,
)
from cai_lang.train.rl.preference import (
    PreferenceTrainingConfig,
    preference_rows,
    train_preference_model,
)

CPU = HardwareSettings(device="cpu")


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


def rows(n=8, q=0.9):
    return [
        {"prompt": [{"role": "user", "content": f"Question {i}: is this safe?"}],
         "chosen": [{"role": "assistant", "content": "yes, with care"}], "rejected": [{"role": "assistant", "content": "no no"}],
         "soft_label": q, "source": "ai", "pair_id": f"p{i}"}
        for i in range(n)
    ]


def test_a_label_at_the_clamp_edge_is_not_a_tie_in_floating_point():
    assert 0.6 - 0.5 < 0.1  # the trap
    assert not is_near_tie(0.6, 0.1) and not is_near_tie(0.4, 0.1)
    assert is_near_tie(0.55, 0.1) and is_near_tie(0.5, 0.0)
    assert effective_tie_margin(0.1, (0.45, 0.55)) == pytest.approx(0.05)
    assert effective_tie_margin(0.1, None) == 0.1


def test_cot_labels_yield_dpo_pairs(rl_bundle):
    """A feedback model that clearly prefers one side, through the CoT labeller (clamped to 0.4-0.6)."""
    quality = {"good": 3.0, "poor": 0.0}
    pairs = [
        {"id": f"x{i}", "conversation": [{"role": "user", "content": f"q{i}"}], "context": {},
         "response_a": "good" if i % 2 else "poor", "response_b": "poor" if i % 2 else "good"}
        for i in range(5)
    ]
    labeller = ComparisonLabeller(rl_bundle, [ControlledBackend(quality)], cot=True, clamp=(0.4, 0.6))
    labels = label_pairs(pairs, labeller, Aggregator(rl_bundle, "priority"))
    assert sorted(round(label.p_a, 6) for label in labels) == [0.4, 0.4, 0.4, 0.6, 0.6]
    kept = dpo_rows(preference_rows(pairs, labels), effective_tie_margin(0.1, (0.4, 0.6)))
    assert len(kept) == 5
    assert all(row["chosen"][0]["content"] == "good" for row in kept)


def test_grpo_scale_rewards_follows_the_reward_and_vllm_passes_through():
    config = PolicyTrainingConfig(method="grpo", batch_size=4, num_generations=2)
    assert online_args(config, lambda **_: [])["scale_rewards"] == "none"
    assert online_args(config, "pm_folder")["scale_rewards"] == "group"
    explicit = PolicyTrainingConfig(method="grpo", batch_size=4, num_generations=2, scale_rewards="batch",
                                    use_vllm=True, vllm_mode="server", vllm_server_base_url="http://h:8000")
    args = online_args(explicit, lambda **_: [])
    assert args["scale_rewards"] == "batch" and args["use_vllm"] and args["vllm_server_base_url"] == "http://h:8000"
    from trl import GRPOConfig

    GRPOConfig(output_dir="unused", use_cpu=True, bf16=False, **{k: v for k, v in args.items() if k != "use_vllm"})
    with pytest.raises(ValueError, match="scale_rewards"):
        PolicyTrainingConfig(scale_rewards="unit")


@pytest.mark.slow
def test_grpo_with_near_tie_labeller_rewards_keeps_advantages_small(tiny_dir, tmp_path, provenance, monkeypatch):
    from trl import GRPOTrainer

    seen = []
    original = GRPOTrainer._generate_and_score_completions

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        seen.append((self.scale_rewards, out["advantages"].abs().max().item()))
        return out

    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", spy)
    counter = iter(range(10_000))

    def near_ties(prompts, completions, **_):
        # What the labeller gives two similar completions: 0.5 plus noise of 1e-4.
        return [0.5 + (1e-4 if next(counter) % 2 else -1e-4) for _ in prompts]

    prompts = [{"id": f"q{i}", "prompt": f"Question {i}?", "context": {}} for i in range(4)]
    config = PolicyTrainingConfig(output_dir=str(tmp_path / "grpo"), method="grpo", max_steps=1, batch_size=4,
                                  num_generations=2, max_completion_length=4, hardware=CPU)
    train_policy(tiny_dir, config, provenance=provenance, prompts=prompts, reward=near_ties)
    assert seen and all(scale == "none" for scale, _ in seen)
    assert max(adv for _, adv in seen) < 1e-3  # with trl's "group" scaling these would be about 1
    log = json.loads((tmp_path / "grpo" / "training_log.json").read_text())
    assert log["scale_rewards"] == "none" and log["hardware"]["device"] == "cpu"


def _live_models():
    from transformers import PreTrainedModel

    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, PreTrainedModel)]


@pytest.mark.slow
def test_lora_dpo_saves_an_adapter_that_peft_loads_and_frees_its_models(tiny_dir, tmp_path, provenance):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    alive = len(_live_models())
    hardware = HardwareSettings(device="cpu", lora=LoraSettings(r=4, alpha=8))
    config = PolicyTrainingConfig(output_dir=str(tmp_path / "dpo"), max_steps=2, batch_size=4, hardware=hardware)
    result = train_policy(tiny_dir, config, provenance=provenance, preference_rows=rows(8))
    assert len(_live_models()) == alive
    assert is_adapter(result.output_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), result.output_dir)
    assert model.peft_config["default"].r == 4
    card = json.loads((result.output_dir / "caic_training.json").read_text())
    assert card["training"]["weights"]["weights"] == "lora_adapter"
    assert result.details["tie_margin_used"] == 0.1 and result.details["mean_label_strength"] == pytest.approx(0.4)


@pytest.mark.slow
def test_lora_preference_model_scores_and_an_adapter_policy_trains_on(tiny_dir, tmp_path, provenance):
    """A LoRA preference model loads back for scoring; an adapter folder as the next trainer's input is merged once."""
    from cai_lang.train.hardware import full_model
    from cai_lang.train.rl.preference import load_preference_model, reward_scores

    hardware = HardwareSettings(device="cpu", lora=LoraSettings(r=4, alpha=8))
    pm = train_preference_model(tiny_dir, rows(8), PreferenceTrainingConfig(
        output_dir=str(tmp_path / "pm"), max_steps=1, batch_size=4, eval_fraction=0.25, hardware=hardware), provenance=provenance)
    assert is_adapter(pm.output_dir) and pm.heldout_accuracy is not None
    model, tokenizer = load_preference_model(pm.output_dir)
    assert len(reward_scores(model, tokenizer, [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]])) == 1

    adapter_policy = train_policy(tiny_dir, PolicyTrainingConfig(output_dir=str(tmp_path / "dpo1"), max_steps=1, batch_size=4,
                                                                 hardware=hardware), provenance=provenance, preference_rows=rows(4))
    second = train_policy(adapter_policy.output_dir, PolicyTrainingConfig(output_dir=str(tmp_path / "dpo2"), max_steps=1, batch_size=4,
                                                                           hardware=CPU), provenance=provenance, preference_rows=rows(4))
    assert (tmp_path / "dpo1" / "merged" / "config.json").is_file()
    assert full_model(adapter_policy.output_dir) == str(tmp_path / "dpo1" / "merged")
    assert not is_adapter(second.output_dir)


@pytest.mark.slow
def test_phase_all_enters_the_rl_phase_with_no_sl_model_alive(tiny_model, constitution_file, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import cai_lang.train.phases as phases
    from cai_lang.cli.app import app

    before = len(_live_models())
    seen = []

    def rl_phase(*args, **kwargs):
        seen.append(len(_live_models()))
        return None

    monkeypatch.setattr(phases, "train_rl", rl_phase)
    result = CliRunner().invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(tmp_path / "run"),
                                      "--phase", "all", "--deployment", "clinic", "--max-prompts", "4", "--rounds", "1",
                                      "--max-new-tokens", "8", "--max-steps", "1", "--train-batch-size", "2", "--max-length", "128"])
    assert result.exit_code == 0, result.output
    assert seen == [before]  # the generation backends and the SFT model are all gone
