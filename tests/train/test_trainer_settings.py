"""Trainer settings as the Hugging Face ecosystem writes them: trl's own fields per stage, handbook keys, a method registry.

The recipe test trains all three stages on the tiny random model and reads
each trainer's effective trl config back from the run folder: what it can
show is that the values reached trl's config, not that they help a model.
"""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.train.config import METHODS, TRAIN
from cai_lang.train.config_file import ConfigFileError, read_config_file
from cai_lang.train.methods import METHODS as REGISTRY
from cai_lang.train.methods import kto_rows
from cai_lang.train.trl_args import TrlArgsError, for_stage, parse_assignments

runner = CliRunner()
SMALL = ["--deployment", "clinic", "--max-prompts", "4", "--rounds", "1", "--max-new-tokens", "12", "--seed", "2",
         "--max-steps", "4", "--train-batch-size", "2", "--logging-steps", "1", "--max-length", "256", "--tie-margin", "0",
         "--preference-model", "always"]


def _recipe(tmp_path, constitution_file, tiny_model, **extra):
    recipe = {
        # alignment-handbook spellings of caic's own options
        "model_name_or_path": str(tiny_model), "output_dir": str(tmp_path / "run"), "per_device_train_batch_size": 2,
        "report_to": "tensorboard", "prompts": "red_team",  # scalars where lists are expected
        "warmup_ratio": 0.1, "lr_scheduler_type": "cosine", "gradient_accumulation_steps": 2, "save_steps": 2, "weight_decay": 0.01,
        "file": str(constitution_file), "phase": "all", **extra,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_handbook_keys_and_scalars_read_as_caic_options_and_trl_fields(tmp_path, constitution_file, tiny_model):
    values = read_config_file(_recipe(tmp_path, constitution_file, tiny_model, sft={"neftune_noise_alpha": 5}, policy={"loss_type": ["sigmoid"]}), TRAIN)
    print({k: values[k] for k in ("model", "output", "train_batch_size", "report_to", "prompts", "trl")})
    assert values["model"] == str(tiny_model) and values["train_batch_size"] == 2
    assert values["report_to"] == ["tensorboard"] and values["prompts"] == ["red_team"]
    trl = parse_assignments(values["trl"])
    assert trl == {"warmup_steps": 0.1, "lr_scheduler_type": "cosine", "gradient_accumulation_steps": 2, "save_steps": 2,
                   "weight_decay": 0.01, "sft.neftune_noise_alpha": 5, "policy.loss_type": ["sigmoid"]}
    # Plain keys reach every stage that has the field; a stage's own keys only that stage.
    assert for_stage(trl, "sft", "SFTConfig")["neftune_noise_alpha"] == 5
    assert "neftune_noise_alpha" not in for_stage(trl, "preference", "RewardConfig")
    assert for_stage(trl, "policy", "KTOConfig")["loss_type"] == ["sigmoid"]


@pytest.mark.parametrize(("text", "words"), [
    ("bf16: true\n", "`bf16` is set by caic: use --dtype bf16"),
    ("gradient_checkpointing: true\n", "--activation-checkpointing"),
    ("sft:\n  warmup_stepz: 3\n", "did you mean `warmup_steps`?"),
    ("policy:\n  dataset_text_field: text\n", "unknown option `policy.dataset_text_field`: neither a caic option nor a field of trl's DPOConfig / KTOConfig / RLOOConfig / GRPOConfig"),
    ("lr_scheduler_typ: cosine\n", "unknown option `lr_scheduler_typ`; did you mean `lr_scheduler_type`?"),
])
def test_keys_caic_decides_or_trl_lacks_are_refused_by_name(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        read_config_file(path, TRAIN)
    print(caught.value)
    assert words in str(caught.value)


def test_trl_on_the_command_line_is_checked_per_stage():
    assert parse_assignments(["sft.warmup_ratio=0.1", "report_to=[tensorboard, wandb]"]) == {
        "sft.warmup_steps": 0.1, "report_to": ["tensorboard", "wandb"]}
    for bad in ("output_dir=x", "rl.beta=1", "beta"):
        with pytest.raises(TrlArgsError):
            parse_assignments([bad])


def test_every_method_is_offered_from_the_registry():
    assert METHODS == tuple(REGISTRY) and "kto" in METHODS
    import trl

    for entry in REGISTRY.values():  # each names a trainer and config trl really has
        assert entry.trl_classes() == (getattr(trl, entry.trainer), getattr(trl, entry.config))


def test_kto_rows_mark_the_preferred_side_desirable():
    rows = kto_rows([{"prompt": "p", "chosen": "a", "rejected": "b", "soft_label": 0.3},
                     {"prompt": "q", "chosen": "c", "rejected": "d", "soft_label": 0.52}], tie_margin=0.05)
    assert rows == [{"prompt": "p", "completion": "b", "label": True}, {"prompt": "p", "completion": "a", "label": False}]


@pytest.mark.slow
def test_a_handbook_recipe_trains_every_stage_and_trl_gets_its_values(tmp_path, constitution_file, tiny_model):
    result = runner.invoke(app, ["train", "--config", str(_recipe(tmp_path, constitution_file, tiny_model)), *SMALL])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    for folder, cls in (("sl_model", "SFTConfig"), ("preference_model", "RewardConfig"), ("rl_policy", "DPOConfig")):
        config = json.loads((run / folder / "trainer_config.json").read_text())
        seen = {k: config[k] for k in ("class", "report_to", "warmup_steps", "lr_scheduler_type", "gradient_accumulation_steps",
                                        "save_steps", "weight_decay", "per_device_train_batch_size", "use_cpu", "bf16")}
        print(folder, seen)
        assert seen == {"class": cls, "report_to": ["tensorboard"], "warmup_steps": 0.1, "lr_scheduler_type": "cosine",
                        "gradient_accumulation_steps": 2, "save_steps": 2, "weight_decay": 0.01, "per_device_train_batch_size": 2,
                        "use_cpu": True, "bf16": False}
        assert not list((run / folder).glob("checkpoint-*"))  # a finished stage keeps no checkpoints
        assert list((run / folder / "runs").iterdir())  # tensorboard really logged
    # config.yaml reruns the run: read back, it is the same options and trainer settings.
    again = read_config_file(run / "config.yaml", TRAIN)
    assert parse_assignments(again["trl"]) == parse_assignments(read_config_file(tmp_path / "recipe.yaml", TRAIN)["trl"])


@pytest.mark.slow
def test_kto_trains_end_to_end(tmp_path, constitution_file, tiny_model):
    run = tmp_path / "kto"
    result = runner.invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(run), "--phase", "rl",
                                 "--method", "kto", *SMALL])
    print(result.output)
    assert result.exit_code == 0, result.output
    assert "policy, KTO 4 steps" in result.output
    config = json.loads((run / "rl_policy" / "trainer_config.json").read_text())
    card = json.loads((run / "rl_policy" / "caic_training.json").read_text())
    log = json.loads((run / "rl_policy" / "training_log.json").read_text())
    print(config["class"], card["method"], log["trainer"], log["data"])
    assert config["class"] == "KTOConfig" and card["method"] == "KTO" and log["trainer"] == "KTOTrainer"
    assert log["data"]["rows"] == 2 * log["data"]["pairs"] > 0
    assert "tie_margin" in card["training"] and "num_generations" not in card["training"]


@pytest.mark.slow
def test_eval_takes_train_s_config_flags_and_shows_progress(tmp_path, constitution_file, tiny_model):
    from dataclasses import fields

    from cai_lang.eval.run import EvalOptions
    from cai_lang.train.config import RunConfig

    def default(group, name):
        return next(f.default for f in fields(group) if f.name == name)

    assert default(EvalOptions, "max_new_tokens") == default(RunConfig, "max_new_tokens") == 128
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(yaml.safe_dump({"source": str(constitution_file), "model_name_or_path": str(tiny_model), "output_dir": str(tmp_path / "ev"),
                                      "deployment": "clinic", "max_prompts": 3, "max_new_tokens": 8, "critique_tokens": 4}))
    result = runner.invoke(app, ["eval", "--config", str(recipe), "-f", str(tiny_model)])
    print(result.output)
    assert result.exit_code == 0, result.output
    assert "model: answers 3/3" in result.output and "critiques " in result.output and "/s" in result.output
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["prompts"]["count"] == 3


def test_a_bad_trl_value_is_refused_before_anything_runs(tmp_path, constitution_file, tiny_model):
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(run), "--phase", "all",
                                 "--trl", "policy.lr_scheduler_type=cosin"])
    print(result.output)
    assert result.exit_code == 2 and "--trl" in result.output and "cosin" in result.output
    assert not run.exists()
