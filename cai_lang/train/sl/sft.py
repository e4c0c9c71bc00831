"""Supervised fine-tuning on SL-CAI revisions with trl's `SFTTrainer`.

This module owns turning SL-CAI rows into a training set and training on
it: each row becomes a conversation `[user prompt, assistant final
response]` and the loss is taken on the assistant's tokens only. With a
chat template that marks assistant turns with `{% generation %}` (caic's
tiny models have one) that is trl's conversational `messages` format with
`assistant_only_loss=True`; many Hub templates lack the markers, so for
those the same pairs go in trl's prompt/completion format, whose
completion-only loss is the same thing for one-turn conversations; a
tokenizer with no chat template gets the paper's `Human:`/`Assistant:`
text. The training settings are CPU-safe by default (`use_cpu`, no bf16,
no activation checkpointing: docs/training.md, "Measured facts about the
stack", says why) and the result is a Hugging
Face model folder with a model card. The trainer runs under
`accelerate launch` unchanged: only the main process writes files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from cai_lang.train.modelcard import write_training_log


class NoTrainingData(ValueError):
    """Every row was left out (empty, or an unrevised red-team sample), so there is nothing to train on."""


@dataclass(frozen=True)
class SFTSettings:
    """Fine-tuning settings; anything not here is trl's default."""

    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; -1 trains for `epochs` epochs instead."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the data when max_steps is -1."})
    batch_size: int = field(default=8, metadata={"help": "Rows per device per step."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Steps whose gradients are summed per update."})
    learning_rate: float = field(default=2e-5, metadata={"help": "Peak learning rate (linear decay)."})
    max_length: int = field(default=1024, metadata={"help": "Tokens per example; longer ones are cut."})
    seed: int = field(default=0, metadata={"help": "Seeds shuffling and initialisation."})
    logging_steps: int = field(default=10, metadata={"help": "Log the loss every this many steps."})
    device: str = field(default="auto", metadata={"help": "`auto` (CUDA if present), `cpu` or `cuda`."})
    # A list, not a tuple: it is recorded in run.json and compared when a run resumes.
    report_to: list[str] = field(default_factory=list, metadata={"help": "Experiment trackers the trainer logs to (transformers' `report_to`); empty: none."})

    def __post_init__(self) -> None:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError("max steps must be positive, or -1 to train by epochs")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1 or self.max_length < 8:
            raise ValueError("batch size and accumulation must be at least 1, max length at least 8")


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


def training_pairs(rows: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(prompt, final response) pairs fit to train on, and how many rows were left out and why.

    Left out: rows with an empty final response, and red-team rows no
    round revised (no principle applied, or the first critique found
    nothing to fix): their final response is the unrevised sample, which
    SL-CAI does not train on. Helpful rows keep their response as sampled.
    """
    pairs: list[tuple[str, str]] = []
    dropped = {"empty_response": 0, "unrevised_red_team": 0}
    for row in rows:
        final = (row.get("final_response") or "").strip()
        if not final:
            dropped["empty_response"] += 1
            continue
        revised = any(r.get("revision") for r in row.get("rounds") or ())
        if row.get("kind") == "red_team" and not revised:
            dropped["unrevised_red_team"] += 1
            continue
        pairs.append((row["prompt"], final))
    return pairs, dropped


def data_format_for(tokenizer: Any) -> str:
    """`messages` (assistant-only loss via generation markers), `prompt_completion` (chat template
    without markers) or `text` (no chat template)."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return "text"
    if isinstance(template, dict):
        template = "\n".join(template.values())
    if "generation" in template and "endgeneration" in template:
        return "messages"
    return "prompt_completion"


def build_dataset(pairs: list[tuple[str, str]], data_format: str):
    """A `datasets.Dataset` in the trl format chosen by `data_format_for`."""
    from datasets import Dataset

    if data_format == "messages":
        data = [{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": r}]} for p, r in pairs]
    elif data_format == "prompt_completion":
        data = [
            {"prompt": [{"role": "user", "content": p}], "completion": [{"role": "assistant", "content": r}]}
            for p, r in pairs
        ]
    else:
        data = [{"prompt": f"Human: {p}\n\nAssistant:", "completion": f" {r}"} for p, r in pairs]
    return Dataset.from_list(data)


def sft_config(settings: SFTSettings, output_dir: Path, data_format: str):
    """trl's `SFTConfig` for these settings, safe on a CPU without bf16 instructions."""
    import torch
    from trl import SFTConfig

    cuda = settings.device != "cpu" and torch.cuda.is_available()
    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=settings.max_steps,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        max_length=settings.max_length,
        seed=settings.seed,
        logging_steps=settings.logging_steps,
        use_cpu=not cuda,
        # trl defaults to bf16, which is 30x slower than fp32 on CPUs without bf16 instructions.
        bf16=cuda and torch.cuda.is_bf16_supported(),
        # Checkpointing trades 37 % more time per step for memory small models do not need.
        activation_checkpointing=False,
        assistant_only_loss=data_format == "messages",
        completion_only_loss=True if data_format != "messages" else None,
        save_strategy="no",
        report_to=list(settings.report_to) or "none",
        # DDP on CPU complains loudly when told to look for unused parameters; there are none.
        ddp_find_unused_parameters=False,
    )


def train_sft(
    rows: Iterable[Mapping[str, Any]],
    *,
    model: str,
    output_dir: str | Path,
    settings: SFTSettings | None = None,
) -> SFTResult:
    """Fine-tune `model` on the SL-CAI rows and save it to `output_dir` (the caller adds the model card)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    settings = settings or SFTSettings()
    output_dir = Path(output_dir)
    pairs, dropped = training_pairs(rows)
    if not pairs:
        reasons = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items() if n)
        raise NoTrainingData(f"no rows to train on ({reasons or 'the dataset is empty'})")
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data_format = data_format_for(tokenizer)
    config = sft_config(settings, output_dir, data_format)
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
    trainer = SFTTrainer(
        model=policy, args=config, train_dataset=build_dataset(pairs, data_format), processing_class=tokenizer
    )
    from cai_lang.train.progress import attach

    attach(trainer, "SFT")
    output = trainer.train()
    trainer.save_model(str(output_dir))
    main = trainer.accelerator.is_main_process
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    if main:
        tokenizer.save_pretrained(str(output_dir))
        trainer.save_state()  # trainer_state.json, as transformers writes it
        write_training_log(output_dir, trainer.state.log_history, trainer="SFTTrainer", data_format=data_format, dropped=dropped)
    trainer.accelerator.wait_for_everyone()
    return SFTResult(
        model_dir=output_dir,
        rows=len(pairs),
        dropped=sum(dropped.values()),
        data_format=data_format,
        steps=output.global_step,
        final_loss=losses[-1] if losses else output.training_loss,
        is_main_process=main,
        processes=trainer.accelerator.num_processes,
    )
