"""Device and precision of the trainers: what `resolve` decides, mixed precision that keeps updates, LoRA
adapters peft loads, SFT targets of every round, and no model left alive after a phase."""

from __future__ import annotations

import gc
import json

import pytest

from cai_lang.train.hardware import (
    HardwareError,
    HardwareSettings,
    LoraSettings,
    is_adapter,
    resolve,
    snapshot,
    weights_changed,
)
from cai_lang.train.sl.sft import SFTSettings, training_pairs


def test_auto_is_bf16_autocast_over_fp32_masters_with_checkpointing_on_a_gpu():
    gpu = resolve(HardwareSettings(), cuda=True, bf16_ok=True)
    assert gpu.trainer_args() == {"use_cpu": False, "bf16": True, "fp16": False, "activation_checkpointing": True}
    assert gpu.weights_dtype == "float32" and gpu.base_dtype == "float32"
    assert resolve(HardwareSettings(), cuda=True, bf16_ok=False).compute_dtype == "float16"


def test_auto_is_fp32_without_checkpointing_on_a_cpu_and_cpu_is_honoured_beside_a_gpu():
    cpu = resolve(HardwareSettings(), cuda=False, bf16_ok=False)
    assert cpu.trainer_args() == {"use_cpu": True, "bf16": False, "fp16": False, "activation_checkpointing": False}
    forced = resolve(HardwareSettings(device="cpu"), cuda=True, bf16_ok=True)
    assert forced.device == "cpu" and forced.trainer_args()["use_cpu"] and forced.compute_dtype == "float32"
    assert resolve(HardwareSettings(activation_checkpointing=True), cuda=False, bf16_ok=False).activation_checkpointing


def test_lora_loads_its_frozen_base_in_the_compute_dtype():
    placed = resolve(HardwareSettings(lora=LoraSettings()), cuda=True, bf16_ok=True)
    assert placed.base_dtype == "bfloat16" and placed.weights_dtype == "float32"
    assert placed.record()["lora"]["target_modules"] == "all-linear"


@pytest.mark.parametrize(
    "settings, message",
    [
        (HardwareSettings(device="cuda"), "no CUDA"),
        (HardwareSettings(dtype="fp16"), "fp16 needs a GPU"),
        (HardwareSettings(lora=LoraSettings(four_bit=True)), "QLoRA"),
        (HardwareSettings(device_map="auto"), "device-map"),
    ],
)
def test_what_this_cpu_cannot_do_is_refused_with_the_reason(settings, message):
    with pytest.raises(HardwareError, match=message):
        resolve(settings, cuda=False, bf16_ok=False)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="dtype"):
        HardwareSettings(dtype="fp8")
    with pytest.raises(ValueError, match="targets"):
        SFTSettings(targets="best")


def test_sft_targets_all_trains_on_every_rounds_revision():
    rows = [
        {"kind": "red_team", "prompt": "p", "final_response": "r2",
         "rounds": [{"revision": "r1"}, {"revision": None, "nothing_to_fix": True}, {"revision": "r2"}]},
        {"kind": "red_team", "prompt": "q", "final_response": "raw", "rounds": [{"revision": None}]},
        {"kind": "helpful", "prompt": "h", "final_response": "sure", "rounds": []},
    ]
    assert _pairs(rows, "final") == [("p", "r2"), ("h", "sure")]
    assert _pairs(rows, "all") == [("p", "r1"), ("p", "r2"), ("h", "sure")]
    _, dropped = training_pairs(rows, "all")
    assert dropped["unrevised_red_team"] == 1


def _pairs(rows, targets="final"):
    """(last user turn, target) of each SFT example."""
    return [(e["prompt"][-1]["content"], e["completion"][0]["content"]) for e in training_pairs(rows, targets)[0]]


def _rows(n):
    return [{"id": f"h{i}", "kind": "helpful", "prompt": f"question {i}", "final_response": f"answer number {i}", "rounds": []} for i in range(n)]


def _live_models():
    from transformers import PreTrainedModel

    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, PreTrainedModel)]


@pytest.mark.slow
def test_mixed_precision_changes_the_weights_bf16_weights_do_not(tiny_model, tmp_path):
    """At SFT's learning rate, bf16 weights round most updates away; fp32 masters under bf16 autocast keep them."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from cai_lang.train.sl.sft import build_dataset, placement_of, sft_config, train_sft

    settings = SFTSettings(max_steps=10, batch_size=4, learning_rate=2e-5, logging_steps=5, max_length=64,
                           hardware=HardwareSettings(device="cpu", dtype="bf16"))
    before = snapshot(AutoModelForCausalLM.from_pretrained(tiny_model))
    result = train_sft(_rows(16), model=str(tiny_model), output_dir=tmp_path / "mixed", settings=settings)
    assert result.hardware["compute_dtype"] == "bfloat16" and result.hardware["weights_dtype"] == "float32"
    mixed = weights_changed(before, AutoModelForCausalLM.from_pretrained(tmp_path / "mixed"))

    # The path SFT took before: the model itself in bf16.
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype="bfloat16")
    before_bf16 = snapshot(model)  # rounding to bf16 is not training
    config = sft_config(settings, tmp_path / "bf16", "prompt_completion", placement_of(settings))
    trainer = SFTTrainer(model=model, args=config, train_dataset=build_dataset(training_pairs(_rows(16))[0], "prompt_completion"), processing_class=tokenizer)
    trainer.train()
    bf16 = weights_changed(before_bf16, model)
    # Embedding rows of tokens the data never uses get no gradient in any precision: the reference is fp32.
    fp32_settings = SFTSettings(max_steps=10, batch_size=4, learning_rate=2e-5, logging_steps=5, max_length=64,
                                hardware=HardwareSettings(device="cpu", dtype="fp32"))
    train_sft(_rows(16), model=str(tiny_model), output_dir=tmp_path / "fp32", settings=fp32_settings)
    fp32 = weights_changed(before, AutoModelForCausalLM.from_pretrained(tmp_path / "fp32"))
    print(f"weights changed over 10 steps at lr 2e-5: fp32 {fp32:.3f}, mixed precision {mixed:.3f}, bf16 weights {bf16:.3f}")
    assert mixed >= fp32 - 0.02
    assert bf16 < mixed - 0.3


@pytest.mark.slow
def test_lora_sft_saves_an_adapter_peft_loads_and_merge_saves_full_weights(tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from cai_lang.train.sl.sft import train_sft

    lora = LoraSettings(r=4, alpha=8)
    settings = SFTSettings(max_steps=2, batch_size=4, logging_steps=1, max_length=64, hardware=HardwareSettings(device="cpu", lora=lora))
    result = train_sft(_rows(8), model=str(tiny_model), output_dir=tmp_path / "adapter", settings=settings)
    assert result.weights["weights"] == "lora_adapter" and is_adapter(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    loaded = PeftModel.from_pretrained(base, tmp_path / "adapter")
    assert loaded.peft_config["default"].r == 4
    log = json.loads((tmp_path / "adapter" / "training_log.json").read_text())
    assert log["hardware"]["lora"]["r"] == 4

    merged_settings = SFTSettings(max_steps=2, batch_size=4, logging_steps=1, max_length=64,
                                  hardware=HardwareSettings(device="cpu", lora=LoraSettings(r=4, alpha=8, merge=True)))
    train_sft(_rows(8), model=str(tiny_model), output_dir=tmp_path / "merged", settings=merged_settings)
    assert not is_adapter(tmp_path / "merged") and is_adapter(tmp_path / "merged" / "adapter")
    full = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert not any("lora" in name for name, _ in full.named_parameters())


@pytest.mark.slow
def test_no_model_outlives_the_sft_phase(tiny_model, tmp_path):
    from cai_lang.train.sl.sft import train_sft

    alive_before = len(_live_models())
    train_sft(_rows(8), model=str(tiny_model), output_dir=tmp_path / "out",
              settings=SFTSettings(max_steps=1, batch_size=4, max_length=64, hardware=HardwareSettings(device="cpu")))
    assert len(_live_models()) == alive_before
