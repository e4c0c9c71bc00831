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
text. Device and precision come from `cai_lang.train.hardware`: fp32 master
weights with bf16/fp16 autocast on a GPU, fp32 on a CPU, activation
checkpointing on a GPU only, or a LoRA adapter. `targets="all"` trains on
the revision of every critique round, as the paper's SL-CAI does, instead
of the final one only. The result is a Hugging Face model (or adapter)
folder with a model card. The trainer runs under `accelerate launch`
unchanged: only the main process writes files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
from cai_lang.train.thinking import strip_thinking
from cai_lang.train.trl_args import TrainerSettings

SFT_TARGETS = ("final", "all")


class NoTrainingData(CaicError, ValueError):
    """Every row was left out (empty, or an unrevised red-team sample), so there is nothing to train on."""


@dataclass
class SFTSettings(TrainerSettings):
    """Fine-tuning settings: the shared trainer settings, the device, and which revisions are trained on."""

    STAGE: ClassVar[str] = "SFT"

    device: str = "auto"  # `auto` (CUDA if present), `cpu` or `cuda`
    targets: str = "final"  # `final`: each prompt's last revision; `all`: every round's revision

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.targets not in SFT_TARGETS:
            raise ValueError(f"SFT targets are `final` or `all`, not {self.targets!r}")
        if self.max_length is None or self.max_length < 8:
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


def training_pairs(rows: Iterable[Mapping[str, Any]], targets: str = "final") -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(prompt, target response) pairs fit to train on, and how many rows were left out and why.

    Left out: rows with an empty final response, and red-team rows no
    round revised (no principle applied, or the first critique found
    nothing to fix): their final response is the unrevised sample, which
    SL-CAI does not train on. Helpful rows keep their response as sampled.
    With `targets="all"` a revised red-team row gives one pair per round
    that wrote a non-empty revision, in round order (the paper fine-tunes
    on every round's revision); rounds with nothing to fix give none.
    """
    pairs: list[tuple[str, str]] = []
    dropped = {"empty_response": 0, "unrevised_red_team": 0}
    for row in rows:
        if targets == "all" and row.get("kind") == "red_team":
            revisions = [strip_thinking(r.get("revision") or "") for r in row.get("rounds") or ()]
            revisions = [text for text in revisions if text]
            if revisions:
                pairs.extend((row["prompt"], text) for text in revisions)
                continue
        final = strip_thinking(row.get("final_response") or "")
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


def build_dataset(pairs: list[tuple[str, str]], data_format: str, template_kwargs: Mapping[str, Any] | None = None):
    """A `datasets.Dataset` in the trl format chosen by `data_format_for`; `template_kwargs` go to the chat
    template of every row (trl reads a `chat_template_kwargs` column)."""
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
    if template_kwargs and data_format != "text":
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
        assistant_only_loss=data_format == "messages", completion_only_loss=True if data_format != "messages" else None,
        # DDP on CPU complains loudly when told to look for unused parameters; there are none.
        ddp_find_unused_parameters=False,
    )


def train_sft(
    rows: Iterable[Mapping[str, Any]],
    *,
    model: str,
    output_dir: str | Path,
    settings: SFTSettings | None = None,
    resume: bool = False,
) -> SFTResult:
    """Fine-tune `model` on the SL-CAI rows and save it to `output_dir` (the caller adds the model card).

    With `resume`, training continues from the last checkpoint in `output_dir`
    (`cai_lang.train.trl_args.train_resumable`). Nothing of the model outlives the call: the trainer and its model are
    released before it returns, so the next phase has the memory.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from cai_lang.train.hardware import full_model
    from cai_lang.train.trl_args import clear_checkpoints, train_resumable

    settings = settings or SFTSettings()
    output_dir = Path(output_dir)
    pairs, dropped = training_pairs(rows, settings.targets)
    if not pairs:
        reasons = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items() if n)
        raise NoTrainingData(f"no rows to train on ({reasons or 'the dataset is empty'})")
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data_format = data_format_for(tokenizer)
    placement = placement_of(settings)
    config = sft_config(settings, output_dir, data_format, placement)
    # fp32 masters (autocast does the bf16 compute); only a frozen LoRA base is loaded in the compute dtype.
    policy = AutoModelForCausalLM.from_pretrained(full_model(model), **placement.model_init_kwargs())
    trainer = SFTTrainer(
        model=policy, args=config, train_dataset=build_dataset(pairs, data_format, settings.chat_template_kwargs), processing_class=tokenizer,
        peft_config=placement.peft_config("CAUSAL_LM"),
    )
    from cai_lang.train.progress import attach

    attach(trainer, "SFT")
    del policy
    output = train_resumable(trainer, resume)
    weights = save_trained(trainer, output_dir, placement)
    main = trainer.accelerator.is_main_process
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    if main:
        tokenizer.save_pretrained(str(output_dir))
        trainer.save_state()  # trainer_state.json, as transformers writes it
        write_training_log(output_dir, trainer.state.log_history, trainer="SFTTrainer", data_format=data_format, dropped=dropped,
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
        rows=len(pairs),
        dropped=sum(dropped.values()),
        data_format=data_format,
        steps=output.global_step,
        final_loss=losses[-1] if losses else output.training_loss,
        is_main_process=main,
        processes=processes,
        hardware=placement.record(),
        weights=weights,
    )
