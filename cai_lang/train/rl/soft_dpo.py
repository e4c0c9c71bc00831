"""DPO on soft labels: conservative DPO with a label smoothing of its own for every pair.

The AI feedback gives each pair a soft label q = P(chosen better) >= 0.5,
the paper's central signal; plain DPO reads only its direction. Conservative
DPO treats a label as flipped with probability ε, and here ε = 1 − q per
pair. With Δ the DPO margin (the chosen response's log-ratio against the
reference minus the rejected one's) and β the KL strength:

    loss = (1 − ε) · (−log σ(βΔ)) + ε · (−log σ(−βΔ))

that is, the pair trained in its direction with weight q and reversed with
weight 1 − q. Its gradient in Δ is β(σ(βΔ) − q): it vanishes where σ(βΔ) =
q, so a 0.6 label teaches a 0.6 preference rather than an unbounded margin,
and a 0.5 label teaches "neither". trl 1.16's DPOTrainer has one global
`label_smoothing` and applies it to the robust and EXO losses only (its
sigmoid loss ignores it), so `SoftLabelDPOTrainer` computes this loss itself
from the same log-probabilities trl's loss uses (its policy forward with
`fused_lm_head=True`, its `compute_ref_log_probs`), for trl's standard
configuration (sigmoid loss, reverse KL, no length weighting); anything else
is refused. The smoothing travels as a dataset column, `label_smoothing`.
Nothing here imports trl at module level.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

SMOOTHING = "label_smoothing"
DPO_LABELS = ("hard", "soft")

_CLASS = None


def soft_dpo_rows(preference_rows: Sequence[Mapping]) -> list[dict]:
    """Every pair (near-ties too: they teach that neither side is better), oriented so `chosen` is the preferred
    side, with `label_smoothing` = 1 − q."""
    rows = []
    for row in preference_rows:
        q = float(row["soft_label"])
        chosen, rejected = (row["chosen"], row["rejected"]) if q >= 0.5 else (row["rejected"], row["chosen"])
        rows.append({"prompt": row["prompt"], "chosen": chosen, "rejected": rejected, SMOOTHING: 1.0 - max(q, 1.0 - q)})
    return rows


def soft_dpo_trainer_class():
    """`SoftLabelDPOTrainer`, built on first use so that importing this module does not import trl."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import torch
    import torch.nn.functional as F
    from trl import DPOTrainer

    class SoftLabelDPOTrainer(DPOTrainer):
        """DPOTrainer whose loss is conservative DPO with the per-pair smoothing in column `label_smoothing`."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            config = self.args
            unsupported = [name for name, bad in (
                ("loss_type other than sigmoid", list(self.loss_types) != ["sigmoid"]),
                ("f_divergence_type other than reverse_kl", self.f_divergence_type != "reverse_kl"),
                ("ld_alpha", self.ld_alpha is not None), ("use_weighting", bool(self.use_weighting)),
                ("a vision dataset", bool(self._is_vision_dataset)), ("padding_free", bool(getattr(config, "padding_free", False))),
            ) if bad]
            if unsupported:
                raise ValueError("soft-label DPO supports trl's standard DPO only, not: " + ", ".join(unsupported))
            collate = self.data_collator

            def with_smoothing(examples):
                batch = collate(examples)
                batch[SMOOTHING] = torch.tensor([float(e[SMOOTHING]) for e in examples])
                return batch

            self.data_collator = with_smoothing

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            if SMOOTHING not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, SMOOTHING]

        def _compute_loss(self, model, inputs, return_outputs):
            inputs = dict(inputs)
            smoothing = inputs.pop(SMOOTHING)
            chosen, rejected = self._policy_logps(model, inputs)
            if self.precompute_ref_logps:
                ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:
                ref_chosen, ref_rejected = self.compute_ref_log_probs(self.ref_model if self.ref_model is not None else self.model, inputs)
            delta = (chosen - ref_chosen) - (rejected - ref_rejected)
            epsilon = smoothing.to(delta.device, delta.dtype)
            per_pair = -(1 - epsilon) * F.logsigmoid(self.beta * delta) - epsilon * F.logsigmoid(-self.beta * delta)
            loss = per_pair.mean()
            mode = "train" if self.model.training else "eval"
            with torch.no_grad():
                margin = self.accelerator.gather_for_metrics(self.beta * delta.detach())
                target = self.accelerator.gather_for_metrics(1 - epsilon)
                self._metrics[mode]["rewards/margins"].append(margin.mean().item())
                self._metrics[mode]["rewards/accuracies"].append((margin > 0).float().mean().item())
                # How far the model's P(chosen better) = σ(βΔ) is from the soft label it is taught.
                self._metrics[mode]["soft_label/abs_error"].append((torch.sigmoid(margin) - target).abs().mean().item())
            return (loss, None) if return_outputs else loss

        def _policy_logps(self, model, inputs):
            model_kwargs = {k: v for k, v in inputs.items() if k not in ("completion_mask", "ref_chosen_logps", "ref_rejected_logps")}
            model_kwargs["use_cache"] = False
            completion_mask = inputs["completion_mask"]
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
            per_token = outputs.log_probs[:, -(completion_mask.size(1) - 1):]
            return per_token.sum(dim=1).chunk(2, dim=0)  # the batch is [chosen rows, rejected rows]

    _CLASS = SoftLabelDPOTrainer
    return _CLASS
