"""Supervised fine-tuning on SL-CAI revisions with trl's `SFTTrainer`.

This module owns turning SL-CAI rows into a training set and training on
it: each row becomes trl's conversational prompt/completion, the whole
conversation the revision answers as the prompt (a multi-turn red-team
transcript keeps every turn) and the revision as the completion, with
completion-only loss, so no token of the conversation, the original
replies included, is trained on; a tokenizer with no chat template gets the
paper's `Human:`/`Assistant:` transcript as text. Device and precision come from `cai_lang.train.hardware`: fp32 master
weights with bf16/fp16 autocast on a GPU, fp32 on a CPU, activation
checkpointing on a GPU only, or a LoRA adapter. `targets="all"` trains on
the revision of every critique round, as the paper's SL-CAI does, instead
of the final one only. The result is a Hugging Face model (or adapter)
folder with a model card. The trainer runs under `accelerate launch`
unchanged: only the main process writes files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cai_lang.errors import CaicError
from cai_lang.train.hardware import (
    Placement,
    release,
    resolve,
    save_trained,
)
from cai_lang.train.modelcard import write_training_log
from cai_lang.train.run.conversation import to_transcript
from cai_lang.train.run.formats import sft_rows
from cai_lang.train.trl_args import TrainerSettings

SFT_TARGETS = ("final", "all")


class NoTrainingData(CaicError, ValueError):
    """Every row was left out (empty, or an unrevised red-team sample), so there is nothing to train on."""


@dataclass
class SFTSettings(TrainerSettings):
    """Fine-tuning settings: the shared trainer settings, the device, and which revisions are trained on.
    `max_length` None (the default here) is the model's context window, decided when the model is loaded."""

    STAGE: ClassVar[str] = "SFT"

    max_length: int | None = None
    device: str = "auto"  # `auto` (CUDA if present), `cpu` or `cuda`
    targets: str = "final"  # `final`: each prompt's last revision; `all`: every round's revision
    keep_unchanged: bool = False  # train on red-team rows no round revised, the sample as target

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.targets not in SFT_TARGETS:
            raise ValueError(f"SFT targets are `final` or `all`, not {self.targets!r}")
        if self.max_length is not None and self.max_length < 8:
            raise ValueError("SFT max length must be at least 8")


@dataclass
class SFTResult:
    model_dir: Path
    rows: int
    dropped: int
    data_format: str
    steps: int
    final_loss: float | None
    is_main_process: bool = True
    processes: int = 1
    hardware: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    ledger: Any = None  # cai_lang.train.ledger.Ledger: every example's fate in the trainer's dataset


def training_pairs(rows: Iterable[Mapping[str, Any]], targets: str = "final", *, keep_unchanged: bool = False
                   ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The SFT examples fit to train on (`run.formats.sft_rows`: the whole conversation as prompt, the revision
    as completion, one per round with `targets="all"`), and how many rows were left out and why."""
    return sft_rows(rows, targets, keep_unchanged=keep_unchanged)


def data_format_for(tokenizer: Any) -> str:
    """`prompt_completion` (conversational, with the chat template) or `text` (no chat template)."""
    return "prompt_completion" if getattr(tokenizer, "chat_template", None) else "text"


def build_dataset(examples: list[Mapping[str, Any]], data_format: str, template_kwargs: Mapping[str, Any] | None = None):
    """A `datasets.Dataset` of prompt/completion rows in the trl format chosen by `data_format_for`: the
    conversation and the revision as messages, or (no chat template) the paper's transcript and the revision
    as text. `template_kwargs` go to the chat template of every row (trl reads a `chat_template_kwargs` column)."""
    from datasets import Dataset

    if data_format == "text":
        data = [{"prompt": to_transcript(e["prompt"]) + "\n\nAssistant:", "completion": " " + e["completion"][-1]["content"]}
                for e in examples]
    else:
        data = [{"prompt": [dict(m) for m in e["prompt"]], "completion": [dict(m) for m in e["completion"]]} for e in examples]
        if template_kwargs:
            data = [{**row, "chat_template_kwargs": dict(template_kwargs)} for row in data]
    return Dataset.from_list(data)


def placement_of(settings: SFTSettings) -> Placement:
    """The device and precision for these settings (`device` here wins over the hardware default `auto`)."""
    hardware = settings.hardware
    if settings.device != "auto" and hardware.device == "auto":
        from dataclasses import replace

        hardware = replace(hardware, device=settings.device)
    return resolve(hardware)


def sft_config(settings: SFTSettings, output_dir: Path, data_format: str, placement: Placement | None = None):
    """trl's `SFTConfig` for these settings and this machine (fp32 on a CPU: trl's bf16 default is 30x slower there)."""
    return settings.trl_config(
        "SFTConfig", output_dir, placement or placement_of(settings),
        # Loss on the completion (the revision) only, never on the conversation it answers.
        completion_only_loss=True,
        # DDP on CPU complains loudly when told to look for unused parameters; there are none.
        ddp_find_unused_parameters=False,
    )


def train_sft(
    rows: Iterable[Mapping[str, Any]],
    *,
    model: str,
    output_dir: str | Path,
    settings: SFTSettings | None = None,
    on_ledger: Callable[[Any], None] | None = None,
    resume: bool = False,
) -> SFTResult:
    """Fine-tune `model` on the SL-CAI rows and save it to `output_dir` (the caller adds the model card).

    `on_ledger(ledger)` is called before training with every example's fate
    in the trainer's own dataset (`cai_lang.train.ledger`); `rows` in the
    result is the number the trainer trains on. With `resume`, training
    continues from the last checkpoint in `output_dir`
    (`cai_lang.train.trl_args.train_resumable`). Nothing of the model outlives the call: the trainer and its model are
    released before it returns, so the next phase has the memory.
    """
    from cai_lang.train.trl_args import clear_checkpoints, train_resumable

    settings = settings or SFTSettings()
    output_dir = Path(output_dir)
    trainer, tokenizer, data_format, placement, ledger, dropped = build_sft_trainer(rows, model, output_dir, settings)
    if on_ledger is not None and trainer.accelerator.is_main_process:
        on_ledger(ledger)
    if not ledger.trained:
        raise NoTrainingData(f"no rows to train on: the trainer dropped all {len(ledger.rows)} (see the row ledger)")
    from cai_lang.train.progress import attach

    attach(trainer, "SFT")
    output = train_resumable(trainer, resume)
    weights = save_trained(trainer, output_dir, placement)
    main = trainer.accelerator.is_main_process
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    if main:
        tokenizer.save_pretrained(str(output_dir))
        trainer.save_state()  # trainer_state.json, as transformers writes it
        write_training_log(output_dir, trainer.state.log_history, trainer="SFTTrainer", data_format=data_format, dropped=dropped,
                           rows=ledger.summary(),
                           hardware=placement.record(), weights=weights,
                           distributed=str(trainer.accelerator.distributed_type).rsplit(".", 1)[-1])
    trainer.accelerator.wait_for_everyone()
    if main:
        clear_checkpoints(output_dir)
    processes = trainer.accelerator.num_processes
    del trainer
    release()
    return SFTResult(
        model_dir=output_dir,
        rows=ledger.trained,
        dropped=sum(dropped.values()) + ledger.count("dropped"),
        data_format=data_format,
        steps=output.global_step,
        final_loss=losses[-1] if losses else output.training_loss,
        is_main_process=main,
        processes=processes,
        hardware=placement.record(),
        weights=weights,
        ledger=ledger,
    )


def build_sft_trainer(rows: Iterable[Mapping[str, Any]], model: str, output_dir: Path, settings: SFTSettings):
    """(trainer, tokenizer, data format, placement, ledger, rows left out before the trainer): trl's `SFTTrainer`
    over the SL rows, its dataset prepared, and the ledger of what it will train on. Max length: the settings',
    else the model's window."""
    from dataclasses import replace

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from cai_lang.train.hardware import full_model
    from cai_lang.train.ledger import account, fit_max_length, model_window

    examples, dropped = training_pairs(rows, settings.targets, keep_unchanged=settings.keep_unchanged)
    if not examples:
        reasons = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items() if n)
        raise NoTrainingData(f"no rows to train on ({reasons or 'the dataset is empty'})")
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data_format = data_format_for(tokenizer)
    placement = placement_of(settings)
    # fp32 masters (autocast does the bf16 compute); only a frozen LoRA base is loaded in the compute dtype.
    policy = AutoModelForCausalLM.from_pretrained(full_model(model), **placement.model_init_kwargs())
    window = model_window(policy)
    max_length, source = fit_max_length(settings.max_length, window)
    config = sft_config(replace(settings, max_length=max_length), output_dir, data_format, placement)
    dataset = build_dataset(examples, data_format, settings.chat_template_kwargs)
    trainer = SFTTrainer(model=policy, args=config, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=placement.peft_config("CAUSAL_LM"))
    ledger = account(trainer, dataset, [str(e["id"]) for e in examples], "SFT", max_length_from=source, window=window)
    return trainer, tokenizer, data_format, placement, ledger, dropped
