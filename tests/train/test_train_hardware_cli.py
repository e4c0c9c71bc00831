"""The hardware options of `caic train` (typed config → trainer settings) and their refusals, and two runs:
`--lora-r` through `--phase sl`, and `--phase rl` with DPO, which trains no preference model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.train.config import FineTuneConfig, HardwareConfig, PolicyConfig, PreferenceConfig, RunConfig
from cai_lang.train.settings import ConfigError, rl_training, sft_settings

runner = CliRunner()
FAST = ["--max-prompts", "4", "--max-new-tokens", "8", "--deployment", "clinic", "--rounds", "1",
        "--max-steps", "1", "--train-batch-size", "2", "--logging-steps", "1", "--max-length", "128"]


def run_config(tmp_path, **extra):
    source = tmp_path / "x.const"
    source.write_text("")
    return RunConfig(file=source, model="m", output=tmp_path / "out", **extra)


def test_hardware_options_reach_every_trainer(tmp_path):
    run = run_config(tmp_path, device="cpu", chat_template_kwargs='{"enable_thinking": false}')
    hardware = HardwareConfig(lora_r=8, lora_target=["q_proj", "v_proj"], merge_lora=True)
    sft = sft_settings(run, FineTuneConfig(sft_targets="all", sft_unchanged="keep"), hardware)
    assert sft.targets == "all" and sft.keep_unchanged and sft.chat_template_kwargs == {"enable_thinking": False}
    assert sft.max_length is None  # --max-length left out: the model's window, decided when the model is loaded
    assert sft.hardware.lora.r == 8 and sft.hardware.lora.alpha == 16 and sft.hardware.lora.target_modules == ("q_proj", "v_proj")
    assert sft.hardware.device == "cpu" and sft.hardware.lora.merge
    training = rl_training(run, FineTuneConfig(), PreferenceConfig(preference_model="always"),
                           PolicyConfig(method="grpo", reward="labeller", scale_rewards="batch", num_generations=2), hardware)
    assert training.preference_model == "always" and not training.needs_preference_model
    assert training.preference.hardware.lora.r == 8 and training.policy.hardware.lora.r == 8
    assert training.policy.scale_rewards == "batch" and training.policy.chat_template_kwargs == {"enable_thinking": False}
    assert rl_training(run, FineTuneConfig(), PreferenceConfig(), PolicyConfig(method="rloo", num_generations=2)).needs_preference_model


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda run: sft_settings(run, FineTuneConfig(), HardwareConfig(dtype="fp16")), "fp16 needs a GPU"),
        (lambda run: rl_training(run, FineTuneConfig(), PreferenceConfig(), PolicyConfig(use_vllm=True)), "--use-vllm"),
        (lambda run: sft_settings(run, FineTuneConfig(), HardwareConfig(lora_r=4, qlora=True)), "QLoRA"),
    ],
)
def test_what_the_machine_or_method_cannot_do_is_a_config_error(tmp_path, make, message):
    with pytest.raises(ConfigError, match=message):
        make(run_config(tmp_path, device="cpu"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--chat-template-kwargs", "{not json"], "not JSON"),
        (["--chat-template-kwargs", "[1]"], "JSON object"),
        (["--merge-lora"], "need --lora-r"),
        (["--dtype", "fp16", "--device", "cpu"], "fp16 needs a GPU"),
    ],
)
def test_bad_hardware_options_exit_2_with_one_line(tiny_model, constitution_file, tmp_path, args, message):
    result = runner.invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and message in result.output


@pytest.mark.slow
def test_lora_through_the_sl_phase_leaves_an_adapter_and_the_rl_phase_reads_it_merged(tiny_model, constitution_file, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(run), "--phase", "all",
                                 "--device", "cpu", "--lora-r", "4", "--tie-margin", "0", "--sft-targets", "all", *FAST])
    assert result.exit_code == 0, result.output
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), run / "sl_model")
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(run / "sl_model" / "merged"), run / "rl_policy")
    record = json.loads((run / "run.json").read_text())
    assert record["sl_training"]["weights"]["weights"] == "lora_adapter" and record["sl_training"]["targets"] == "all"
    pairs = [json.loads(line) for line in (run / "rl_pairs.jsonl").read_text().splitlines()]
    assert all(p["policy"].endswith("sl_model/merged") for p in pairs)
    assert not (run / "preference_model").exists()  # DPO does not read it
    steps = record["commands"][-1]["steps"]
    assert [s for s in steps if s["step"] == "rl-preference"][0]["skipped"]
