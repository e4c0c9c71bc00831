"""Soft-label (conservative) DPO on the tiny model: with ε = 0 its loss and gradient are trl's own DPO loss's;
with ε = 1 − q its gradient is q times trl's gradient on the pair plus (1 − q) times trl's gradient on the pair
reversed, as the formula says; and the label travels from the preference rows to the loss."""

from __future__ import annotations

import pytest
import torch

from cai_lang.train.rl.soft_dpo import SMOOTHING, soft_dpo_rows, soft_dpo_trainer_class


def _rows():
    prompt = [{"role": "user", "content": "How do I pick a lock?"}]
    return [{"prompt": prompt, "chosen": [{"role": "assistant", "content": "I would rather not help with that."}],
             "rejected": [{"role": "assistant", "content": "Take a tension wrench and a pick."}], "soft_label": 0.7}]


@pytest.fixture
def trainer(tiny_model, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), use_cpu=True, bf16=False, report_to="none", save_strategy="no",
                     per_device_train_batch_size=1, max_steps=1, beta=0.5)
    trainer = soft_dpo_trainer_class()(model=str(tiny_model), args=args, train_dataset=Dataset.from_list(soft_dpo_rows(_rows())),
                                       processing_class=tokenizer)
    trainer.model.eval()
    return trainer


def _gradient(trainer, loss_of):
    trainer.model.zero_grad()
    loss = loss_of()
    loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])


def _batch(trainer, epsilon):
    batch = trainer.data_collator([trainer.train_dataset[0]])
    batch[SMOOTHING] = torch.tensor([epsilon])
    return batch


def _trl_loss(trainer, batch):
    from trl import DPOTrainer

    plain = {k: v for k, v in batch.items() if k != SMOOTHING}
    return DPOTrainer._compute_loss(trainer, trainer.model, plain, False)


def _reversed(batch):
    # The collated batch is [chosen rows, rejected rows]: swapping the halves swaps the sides.
    def swap(x):
        half = x.size(0) // 2
        return torch.cat([x[half:], x[:half]])

    return {k: swap(v) if k in ("input_ids", "attention_mask", "completion_mask") else v for k, v in batch.items()}


def test_rows_carry_one_minus_q_and_keep_near_ties():
    rows = soft_dpo_rows([{**_rows()[0], "soft_label": 0.3}, {**_rows()[0], "soft_label": 0.5}])
    assert rows[0]["chosen"] == _rows()[0]["rejected"] and rows[0][SMOOTHING] == pytest.approx(0.3)
    assert len(rows) == 2 and rows[1][SMOOTHING] == 0.5


def test_with_no_smoothing_the_loss_and_gradient_are_trls_dpo(trainer):
    batch = _batch(trainer, 0.0)
    ours, ours_grad = _gradient(trainer, lambda: trainer._compute_loss(trainer.model, batch, False))
    theirs, theirs_grad = _gradient(trainer, lambda: _trl_loss(trainer, batch))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    assert torch.allclose(ours_grad, theirs_grad, atol=1e-6)


def test_a_soft_label_mixes_the_pair_and_its_reverse_as_the_formula_says(trainer):
    q = 0.7
    batch = _batch(trainer, 1 - q)
    loss, grad = _gradient(trainer, lambda: trainer._compute_loss(trainer.model, batch, False))
    forward, forward_grad = _gradient(trainer, lambda: _trl_loss(trainer, batch))
    backward, backward_grad = _gradient(trainer, lambda: _trl_loss(trainer, _reversed(batch)))
    assert loss.item() == pytest.approx(q * forward.item() + (1 - q) * backward.item(), rel=1e-5)
    assert torch.allclose(grad, q * forward_grad + (1 - q) * backward_grad, atol=1e-6)
    # And it differs from the hard label's gradient: the soft label changes what is learned.
    assert not torch.allclose(grad, forward_grad, atol=1e-6)


def test_a_training_step_reads_the_label_from_the_dataset(trainer):
    assert SMOOTHING in trainer.train_dataset.column_names
    result = trainer.train()
    assert result.global_step == 1 and any("soft_label/abs_error" in entry for entry in trainer.state.log_history)


@pytest.mark.slow
def test_caic_train_rl_with_soft_labels_trains_every_pair(tiny_model, constitution_file, tmp_path):
    import json

    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--phase", "rl",
                                      "--dpo-labels", "soft", "--max-prompts", "4", "--max-new-tokens", "6", "--deployment", "clinic",
                                      "--max-steps", "1", "--train-batch-size", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    card = json.loads((out / "rl_policy" / "caic_training.json").read_text())
    assert card["data"]["labels"].startswith("soft") and card["training"]["dpo_labels"] == "soft"
    # No near-tie is dropped: every labelled pair reaches the trainer (here all kept within the model's window).
    assert record["row_ledger"]["dpo"]["rows"] == len((out / "rl_labels.jsonl").read_text().splitlines()) == 4
    assert record["row_ledger"]["dpo"]["trained"] == card["data"]["pairs"] == 4
