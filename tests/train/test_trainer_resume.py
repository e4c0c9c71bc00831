"""A trainer killed mid-stage resumes from its last checkpoint: same global step, same final weights as a run never killed.

One test per trainer stage (SFT, preference model, DPO) on the tiny random
model. The kill is deterministic: a callback raises right after the
checkpoint of step `KILL_AT` is written (as a process killed between two
checkpoints leaves its folder). The resumed trainer is seen starting at
that step, and its final weights are compared with an uninterrupted run of
the same settings. With `--resume`, `caic train` passes the same flag to
these functions (`cai_lang.train.sl.pipeline`, `cai_lang.train.rl.pipeline`).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow
STEPS, SAVE, KILL_AT = 6, 2, 4


class Killed(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from cai_lang.engine.tiny import FALLBACK_TEXT, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", size="tiny", seed=0, corpus=[FALLBACK_TEXT])


@pytest.fixture(scope="module")
def provenance(tmp_path_factory):
    from rl_testkit import compile_test_bundle

    from cai_lang.train.modelcard import Provenance

    return Provenance.of_bundle(compile_test_bundle(tmp_path_factory.mktemp("bundle")))


@pytest.fixture
def watch(monkeypatch):
    """Every trainer built gets a callback: it records the step training begins at, and raises after the
    checkpoint of step `kill_at` when that is set."""
    from transformers import TrainerCallback

    import cai_lang.train.progress as progress

    seen = {"kill_at": None, "began_at": []}

    class Watch(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if len(seen["began_at"]) < seen["runs"]:
                seen["began_at"].append(state.global_step)

        def on_save(self, args, state, control, **kwargs):
            if state.global_step == seen["kill_at"] and seen.get("runs", 0) >= seen.get("kill_after_runs", 0):
                raise Killed(f"killed after the checkpoint of step {state.global_step}")

    real = progress.attach

    def attach(trainer, name):
        seen["runs"] = seen.get("runs", 0) + 1
        trainer.add_callback(Watch())
        real(trainer, name)

    monkeypatch.setattr(progress, "attach", attach)
    return seen


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def assert_same(a, b):
    import torch

    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    print(f"largest weight difference, resumed vs uninterrupted: {worst:.3g}")
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5, rtol=1e-4) for k in a)


def kill_then_resume(train, tmp_path, watch):
    """(uninterrupted folder, resumed folder): `train(folder, resume)` run whole, then killed at KILL_AT and resumed."""
    whole = train(tmp_path / "whole", False)
    watch["kill_at"] = KILL_AT
    with pytest.raises(Killed):
        train(tmp_path / "killed", False)
    checkpoints = sorted(p.name for p in (tmp_path / "killed").glob("checkpoint-*"))
    print("left by the kill:", checkpoints)
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    watch["kill_at"] = None
    resumed = train(tmp_path / "killed", True)
    print("first step of each run (whole, killed, resumed):", watch["began_at"])
    assert watch["began_at"] == [0, 0, KILL_AT]
    assert not list((tmp_path / "killed").glob("checkpoint-*"))
    return whole, resumed


def test_sft_resumes_from_its_checkpoint(tiny_dir, tmp_path, watch):
    from cai_lang.train.sl.sft import SFTSettings, train_sft

    rows = [{"id": f"h{i}", "kind": "helpful", "prompt": f"question {i}", "final_response": f"answer {i} " * 3, "rounds": []} for i in range(8)]
    settings = SFTSettings(max_steps=STEPS, batch_size=2, logging_steps=1, max_length=64, device="cpu", trl_args={"save_steps": SAVE})

    def train(folder, resume):
        return train_sft(rows, model=str(tiny_dir), output_dir=folder, settings=settings, resume=resume)

    whole, resumed = kill_then_resume(train, tmp_path, watch)
    assert whole.steps == resumed.steps == STEPS
    assert_same(weights(whole.model_dir), weights(resumed.model_dir))


def preference_rows(n=8):
    return [{"prompt": [{"role": "user", "content": f"Question {i}: is this safe?"}],
             "chosen": [{"role": "assistant", "content": "yes, with care " * (1 + i % 3)}],
             "rejected": [{"role": "assistant", "content": "no"}], "soft_label": 0.6 + 0.04 * i, "source": "ai", "pair_id": f"p{i}"}
            for i in range(n)]


def test_the_preference_model_resumes_from_its_checkpoint(tiny_dir, tmp_path, watch, provenance):
    from cai_lang.train.rl.preference import PreferenceTrainingConfig, train_preference_model

    def train(folder, resume):
        config = PreferenceTrainingConfig(output_dir=str(folder), max_steps=STEPS, batch_size=2, eval_fraction=0.0, logging_steps=1,
                                          trl_args={"save_steps": SAVE})
        return train_preference_model(tiny_dir, preference_rows(), config, provenance=provenance, resume=resume)

    whole, resumed = kill_then_resume(train, tmp_path, watch)
    assert whole.steps == resumed.steps == STEPS
    assert_same(weights(whole.output_dir), weights(resumed.output_dir))


def test_dpo_resumes_from_its_checkpoint(tiny_dir, tmp_path, watch, provenance):
    from cai_lang.train.rl.policy import PolicyTrainingConfig, train_policy

    def train(folder, resume):
        config = PolicyTrainingConfig(output_dir=str(folder), method="dpo", max_steps=STEPS, batch_size=2, logging_steps=1,
                                      learning_rate=1e-3, trl_args={"save_steps": SAVE})
        return train_policy(tiny_dir, config, provenance=provenance, preference_rows=preference_rows(), resume=resume)

    whole, resumed = kill_then_resume(train, tmp_path, watch)
    assert whole.steps == resumed.steps == STEPS
    assert_same(weights(whole.output_dir), weights(resumed.output_dir))


@pytest.mark.parametrize("phase", ["sl", "rl"])
def test_caic_train_resume_continues_the_killed_stage_from_its_checkpoint(phase, tiny_model, constitution_file, tmp_path, watch):
    """`caic train` killed inside SFT (`--phase sl`) or DPO (`--phase rl`, after the preference model),
    then `caic train --resume`: the stage goes on from its last checkpoint, not from step 0."""
    import json

    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    run = tmp_path / "run"
    args = ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(run), "--phase", phase, "--deployment", "clinic",
            "--max-prompts", "4", "--rounds", "1", "--max-new-tokens", "12", "--max-steps", str(STEPS), "--train-batch-size", "2",
            "--max-length", "256", "--tie-margin", "0", "--preference-model", "always", "--trl", f"save_steps={SAVE}"]
    stage = {"sl": "sl_model", "rl": "rl_policy"}[phase]
    watch["kill_at"] = KILL_AT
    if phase == "rl":  # let the preference model finish; kill the policy
        watch["kill_after_runs"] = 2
    killed = CliRunner().invoke(app, args)
    assert isinstance(killed.exception, Killed), killed.output
    print("left by the kill:", sorted(p.name for p in (run / stage).glob("checkpoint-*")))
    watch["kill_at"] = None
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    print("first step of each trainer run:", watch["began_at"])
    assert watch["began_at"][-1] == KILL_AT
    state = json.loads((run / stage / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
