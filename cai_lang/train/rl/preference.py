"""The preference model: a reward model trained on soft AI labels, optionally mixed with human preferences.

trl's `RewardTrainer` fits the Bradley-Terry loss -log σ(r_chosen - r_rejected)
to hard labels (with an optional per-row margin). The labeller gives soft
labels, P(A better), so `SoftLabelRewardTrainer` swaps the loss for binary
cross-entropy with logits on r_chosen - r_rejected against the soft label q:

    loss = -(q log σ(Δ) + (1 - q) log(1 - σ(Δ))),   Δ = r_chosen - r_rejected

With q = 1 this is trl's loss exactly, which is how human preference rows
(`--human-preferences FILE`: prompt/chosen/rejected, the paper's hybrid)
join the same batches. Rows are oriented so that `chosen` is the response
the labeller prefers and q ≥ 0.5; the trainer's own accuracy metric (r_chosen
> r_rejected) then reads as agreement with the labeller's majority. The model
is saved with `save_pretrained` as a sequence-classification folder with
`num_labels=1` and `pad_token_id` set, which `AutoModelForSequenceClassification`
loads and trl's online trainers accept as a reward model by path. Device and
precision come from `cai_lang.train.hardware` (fp32 masters under autocast,
or a LoRA adapter with the score head trained in full); the held-out
accuracy is scored on the training device.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, Sequence

from cai_lang.train.hardware import resolve
from cai_lang.train.trl_args import TrainerSettings

if TYPE_CHECKING:
    from cai_lang.train.modelcard import Provenance

SOFT_LABEL = "soft_label"


# ---------------------------------------------------------------- rows


def _as_messages(value: Any, role: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]


def preference_rows(pairs: Iterable[Mapping], labels: Iterable[Any]) -> list[dict]:
    """Training rows from labelled pairs: conversational prompt/chosen/rejected plus `soft_label` ≥ 0.5.

    `labels` are `PreferenceLabel`s or their dicts, matched to pairs by id.
    The orientation is the one `preferences.jsonl` is written with
    (`run.formats.preference_file_rows`), so the file and the training set agree.
    """
    from cai_lang.train.run.formats import preference_file_rows

    pairs = [{**pair, "conversation": _as_messages(pair["conversation"], "user")} for pair in pairs]
    dicts = [label.to_dict() if hasattr(label, "to_dict") else dict(label) for label in labels]
    return [
        {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"], SOFT_LABEL: row["soft_label"], "source": "ai", "pair_id": row["id"]}
        for row in preference_file_rows(pairs, dicts)
    ]


def load_human_preferences(path: str | Path) -> list[dict]:
    """Human preference rows from JSONL, each with label 1.0.

    `prompt`, `chosen`, `rejected` as text or messages, or the Hub's form
    with no `prompt` and whole conversations in `chosen`/`rejected`
    (normalised by `run.formats.normalise_preference`, so the user turns
    appear once, in the prompt).
    """
    from cai_lang.train.run.formats import normalise_preference
    from cai_lang.train.run.prompts import read_jsonl

    rows = []
    for number, record in enumerate(read_jsonl(Path(path), ValueError), 1):
        missing = [key for key in ("chosen", "rejected") if key not in record]
        if missing:
            raise ValueError(f"{path}, row {number}: a human preference needs {', '.join(missing)}")
        prompt, chosen, rejected = normalise_preference(record, f"{path}, row {number}")
        rows.append(
            {
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                SOFT_LABEL: 1.0,
                "source": "human",
                "pair_id": str(record.get("id", f"human-{number}")),
            }
        )
    return rows


def split_rows(rows: Sequence[dict], eval_fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A seeded train/held-out split; at least one row is held out when eval_fraction > 0 and there are two rows."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_eval = int(round(len(rows) * eval_fraction))
    if eval_fraction > 0 and n_eval == 0 and len(rows) >= 2:
        n_eval = 1
    held = sorted(order[:n_eval])
    train = sorted(order[n_eval:])
    return [rows[i] for i in train], [rows[i] for i in held]


# ---------------------------------------------------------------- trainer


def soft_label_trainer_class():
    """`SoftLabelRewardTrainer`, built on first use so that importing this module does not import trl."""
    global _TRAINER
    if _TRAINER is not None:
        return _TRAINER
    import torch
    import torch.nn.functional as F
    from trl import RewardTrainer

    class SoftLabelCollator:
        """trl's preference collator, plus the soft labels as a float tensor."""

        def __init__(self, inner):
            self.inner = inner

        def __call__(self, examples):
            labels = [float(example[SOFT_LABEL]) for example in examples]
            batch = self.inner([{k: v for k, v in example.items() if k != SOFT_LABEL} for example in examples])
            batch[SOFT_LABEL] = torch.tensor(labels, dtype=torch.float)
            return batch

    class SoftLabelRewardTrainer(RewardTrainer):
        """RewardTrainer with binary cross-entropy against P(chosen better) in column `soft_label`."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.data_collator = SoftLabelCollator(self.data_collator)

        def _set_signature_columns_if_needed(self):
            # Trainer drops dataset columns outside this list before collating.
            if self._signature_columns is None:
                self._signature_columns = ["chosen_ids", "rejected_ids", "margin", SOFT_LABEL]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            soft = inputs.pop(SOFT_LABEL, None)
            # The parent runs the model and records reward, accuracy and margin
            # metrics; only its hard-label loss is replaced.
            hard_loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
            if soft is None:
                return (hard_loss, outputs) if return_outputs else hard_loss
            rewards_chosen, rewards_rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
            loss = F.binary_cross_entropy_with_logits(rewards_chosen - rewards_rejected, soft.to(rewards_chosen.dtype))
            if self.args.center_rewards_coefficient is not None:
                loss = loss + self.args.center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)
            return (loss, outputs) if return_outputs else loss

    _TRAINER = SoftLabelRewardTrainer
    return _TRAINER


_TRAINER = None


@dataclass
class PreferenceTrainingConfig(TrainerSettings):
    """How to train the preference model: the shared trainer settings (longer rows are dropped, not cut),
    the held-out share and trl's reward-centring term; defaults are CPU-safe and small."""

    STAGE: ClassVar[str] = "preference-model"

    learning_rate: float = 1e-5
    max_length: int | None = None  # None: the model's window; longer rows are dropped (trl filters, not truncates)
    eval_fraction: float = 0.1  # share of rows held out for pairwise accuracy
    center_rewards_coefficient: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"the held-out fraction must be in [0, 1), got {self.eval_fraction}")


@dataclass
class PreferenceResult:
    output_dir: Path
    train_loss: float | None
    heldout_accuracy: float | None
    heldout_rows: int
    train_rows: int
    human_rows: int = 0
    steps: int = 0
    ledger: Any = None  # cai_lang.train.ledger.Ledger: each row's fate in the trainer's dataset


def train_preference_model(
    base_model: str | Path,
    rows: Sequence[dict],
    config: PreferenceTrainingConfig,
    *,
    provenance: "Provenance",
    heldout: Sequence[dict] | None = None,
    on_ledger: Callable[[Any], None] | None = None,
    resume: bool = False,
) -> PreferenceResult:
    """Train a preference model from `base_model` (a causal-LM or classifier folder) on soft-label rows.

    Held-out rows come from `heldout`, or are split off `rows` by
    `config.eval_fraction`. With `resume`, training continues from the last
    checkpoint in the output folder. Accuracy is measured on the saved folder, reloaded,
    so a folder that does not load fails here rather than in the RL step. The
    folder gets a model card, `caic_training.json`, `training_log.json` and
    trl's `trainer_state.json`.
    """
    from datasets import Dataset
    from transformers import AutoTokenizer

    from cai_lang.train.hardware import full_model, release, save_trained
    from cai_lang.train.ledger import account, fit_max_length, model_window
    from cai_lang.train.modelcard import CardFacts, write_model_card, write_training_log
    from cai_lang.train.trl_args import clear_checkpoints, train_resumable

    placement = resolve(config.hardware)
    base_model = full_model(base_model)
    if heldout is None:
        train_rows, heldout = split_rows(rows, config.eval_fraction, config.seed)
    else:
        train_rows = list(rows)
    if not train_rows:
        raise ValueError("no preference rows to train on")
    if not config.output_dir:
        raise ValueError("the preference model needs an output folder")
    out = Path(config.output_dir)
    window = model_window(base_model)
    max_length, max_length_from = fit_max_length(config.max_length, window)
    args = replace(config, max_length=max_length).trl_config(
        "RewardConfig", out, placement, center_rewards_coefficient=config.center_rewards_coefficient,
        model_init_kwargs=placement.model_init_kwargs())
    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    text = not getattr(tokenizer, "chat_template", None)
    dataset = Dataset.from_list([_trainable(r, text, config.chat_template_kwargs) for r in train_rows])
    trainer = soft_label_trainer_class()(
        model=str(base_model),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=placement.peft_config("SEQ_CLS"),
    )
    ids = [str(r.get("pair_id") or r.get("id") or f"row-{n}") for n, r in enumerate(train_rows, start=1)]
    ledger = account(trainer, dataset, ids, "preference model", max_length_from=max_length_from, window=window)
    if on_ledger is not None and trainer.accelerator.is_main_process:
        on_ledger(ledger)
    if not ledger.trained:
        raise ValueError(f"the reward trainer dropped all {len(ledger.rows)} rows (each longer than max length {max_length})")
    from cai_lang.train.progress import attach

    attach(trainer, "preference model")
    result = train_resumable(trainer, resume)
    weights = save_trained(trainer, out, placement)
    clear_checkpoints(out)
    trainer.save_state()
    log_history = trainer.state.log_history
    del trainer
    release()  # the trained copy goes before the saved one is loaded back to be scored
    figures = heldout_accuracy(out, heldout, device=placement.device, template_kwargs=config.chat_template_kwargs) if heldout else {}
    accuracy = figures.get("all")
    # What the trainer really trained on: the rows its dataset kept.
    trained_ids = {row.id for row in ledger.rows if row.fate != "dropped"}
    trained_rows = [r for r, row_id in zip(train_rows, ids) if row_id in trained_ids]
    human = sum(r.get("source") == "human" for r in trained_rows)
    metrics = {"train_loss": result.training_loss, "heldout_pairwise_accuracy": accuracy, "heldout_rows": len(heldout),
               "heldout_accuracy_decided": figures.get("decided"), "heldout_decided_rows": figures.get("decided_rows", 0),
               "steps": result.global_step}
    write_training_log(out, log_history, trainer="RewardTrainer (soft labels)", metrics=metrics, hardware=placement.record(), weights=weights,
                       rows=ledger.summary())
    write_model_card(
        out,
        CardFacts(
            provenance=provenance,
            kind="preference_model",
            base_model=str(base_model),
            method="soft-label reward modelling (binary cross-entropy on r_chosen - r_rejected)",
            data={"train_rows": ledger.trained, "ai_rows": ledger.trained - human, "human_rows": human, "heldout_rows": len(heldout),
                  "rows dropped by the trainer": ledger.count("dropped")},
            training={**{k: v for k, v in asdict(config).items() if k not in ("output_dir", "hardware")},
                      "hardware": placement.record(), "weights": weights},
            metrics=metrics,
        ),
    )
    return PreferenceResult(out, result.training_loss, accuracy, len(heldout), ledger.trained, human, result.global_step, ledger)


def _trainable(row: Mapping, text: bool = False, template_kwargs: Mapping[str, Any] | None = None) -> dict:
    if text:
        return {**as_text(row), SOFT_LABEL: float(row[SOFT_LABEL])}
    out = {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"], SOFT_LABEL: float(row[SOFT_LABEL])}
    if template_kwargs:
        out["chat_template_kwargs"] = dict(template_kwargs)  # trl reads this column when it applies the template
    return out


def transcript(messages: Sequence[Mapping[str, str]]) -> str:
    """A conversation in the paper's text format (`Human: …\n\nAssistant: …`), for models without a chat template."""
    names = {"user": "Human", "assistant": "Assistant"}
    return "\n\n".join(f"{names.get(m['role'], str(m['role']).capitalize())}: {m['content']}" for m in messages)


def as_text(row: Mapping) -> dict:
    """A conversational prompt/chosen/rejected row in trl's standard (text) format: the prompt ends
    with `Assistant:` and each response starts with a space, as a base model would continue it."""
    return {
        "prompt": transcript(row["prompt"]) + "\n\nAssistant:",
        "chosen": " " + "".join(m["content"] for m in row["chosen"]),
        "rejected": " " + "".join(m["content"] for m in row["rejected"]),
    }


# ---------------------------------------------------------------- scoring


def load_preference_model(path: str | Path, device: str | None = None):
    """(model, tokenizer) of a saved preference model (full weights or a LoRA adapter), in eval mode on `device`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from cai_lang.train.hardware import is_adapter

    if is_adapter(path):
        from peft import AutoPeftModelForSequenceClassification

        model = AutoPeftModelForSequenceClassification.from_pretrained(str(path), num_labels=1).merge_and_unload()
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1)
    if device is not None:
        model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return model.eval(), tokenizer


def reward_scores(model, tokenizer, conversations: Sequence[Sequence[Mapping[str, str]]], batch_size: int = 8,
                  template_kwargs: Mapping[str, Any] | None = None) -> list[float]:
    """The preference model's scalar reward for each whole conversation (prompt and response),
    tokenised with the chat template exactly as the trainer tokenised its rows."""
    import torch

    scores: list[float] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else model.config.pad_token_id
    for start in range(0, len(conversations), batch_size):
        chunk = conversations[start : start + batch_size]
        if getattr(tokenizer, "chat_template", None):
            encoded = [tokenizer.apply_chat_template([dict(m) for m in c], tokenize=True, return_dict=True, **(template_kwargs or {}))["input_ids"]
                       for c in chunk]
        else:
            # As trl tokenises a text row: prompt and response joined, with the EOS text it appends.
            encoded = [tokenizer(transcript(c) + (tokenizer.eos_token or ""))["input_ids"] for c in chunk]
        width = max(len(ids) for ids in encoded)
        # Right padding, as trl's collator pads: the classifier reads the last non-pad token.
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for r, ids in enumerate(encoded):
            input_ids[r, : len(ids)] = torch.tensor(ids)
            mask[r, : len(ids)] = 1
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device)).logits
        scores.extend(float(x) for x in logits.squeeze(-1).float().cpu())
    return scores


DECIDED_MARGIN = 0.05  # a held-out label within this of 0.5 is a near-tie, not a decided preference


def pairwise_accuracy(model_or_path, rows: Sequence[Mapping], tokenizer=None, device: str | None = None,
                      template_kwargs: Mapping[str, Any] | None = None) -> float | None:
    """Share of rows whose preferred side (soft label > 0.5) gets the higher reward; exact ties are skipped."""
    return heldout_accuracy(model_or_path, rows, tokenizer, device, template_kwargs)["all"]


def heldout_accuracy(model_or_path, rows: Sequence[Mapping], tokenizer=None, device: str | None = None,
                     template_kwargs: Mapping[str, Any] | None = None, margin: float = DECIDED_MARGIN) -> dict[str, Any]:
    """Pairwise accuracy on every row with a side preferred (`all`, exact ties skipped) and on the decided
    rows only (`decided`: soft label more than `margin` from 0.5), with the row count of each; None where
    there is no row. A near-0.5 label says the labeller hardly preferred either side, so agreeing with it
    is close to a coin flip: the two figures are reported apart."""
    if isinstance(model_or_path, (str, Path)):
        model, tokenizer = load_preference_model(model_or_path, device)
    else:
        model = model_or_path
    scored = [r for r in rows if float(r[SOFT_LABEL]) != 0.5]
    right: list[bool] = []
    if scored:
        chosen = reward_scores(model, tokenizer, [list(r["prompt"]) + list(r["chosen"]) for r in scored], template_kwargs=template_kwargs)
        rejected = reward_scores(model, tokenizer, [list(r["prompt"]) + list(r["rejected"]) for r in scored], template_kwargs=template_kwargs)
        right = [(c > j) == (float(row[SOFT_LABEL]) > 0.5) for row, c, j in zip(scored, chosen, rejected)]
    decided = [ok for row, ok in zip(scored, right) if abs(float(row[SOFT_LABEL]) - 0.5) > margin]
    return {"all": sum(right) / len(right) if right else None, "all_rows": len(right),
            "decided": sum(decided) / len(decided) if decided else None, "decided_rows": len(decided), "margin": margin}
