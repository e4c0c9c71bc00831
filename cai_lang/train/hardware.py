"""Where and in what precision every trainer runs: device, dtype, activation checkpointing, placement, LoRA.

One place decides these for SFT, the preference model and the policy, so
the three trainers cannot drift apart. Full fine-tuning keeps fp32 master
weights and computes in bf16/fp16 under autocast (trl's `bf16`/`fp16`
flags, which accelerate turns into `torch.autocast`): bf16 *weights* with a
plain AdamW lose every update smaller than a bf16 step, and at the learning
rates SFT uses most of them are. Only frozen weights are loaded in the
compute dtype: the base of a LoRA adapter (the adapter itself stays fp32,
peft's default), or 4-bit with QLoRA. `device="cpu"` is honoured even on a
CUDA machine; `auto` takes CUDA when present. Activation checkpointing is on
by default on a GPU (memory is what is short there) and off on a CPU (it
costs about a third more time per step and small models do not need it).
`device_map` ("auto", "balanced", ...) spreads a model larger than one
device over the GPUs and the CPU with accelerate's big-model placement; it
is for one process, not for `accelerate launch` (use FSDP or ZeRO-3 there).
Nothing here imports torch at module load.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEVICES = ("auto", "cpu", "cuda")
# Spellings accepted for --dtype, and the torch name each stands for.
DTYPES = {"auto": "auto", "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_SUBDIR = "adapter"
from cai_lang.errors import CaicError


class HardwareError(CaicError, ValueError):
    """A device or precision this machine cannot give (e.g. `--device cuda` without CUDA)."""


@dataclass(frozen=True)
class LoraSettings:
    """A LoRA (or, with `four_bit`, QLoRA) adapter instead of full fine-tuning."""

    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha / r)."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the adapter's input."})
    target_modules: tuple[str, ...] = field(
        default=(), metadata={"help": "Module names to adapt; empty means every linear layer but the output head (peft's `all-linear`)."}
    )
    four_bit: bool = field(default=False, metadata={"help": "QLoRA: load the frozen base in 4-bit NF4 (needs CUDA and bitsandbytes)."})
    merge: bool = field(default=False, metadata={"help": "Save the merged full model (the adapter goes to `adapter/` beside it)."})

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1:
            raise ValueError("LoRA rank and alpha must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")

    def peft_config(self, task: str):
        """peft's `LoraConfig` for a causal LM (`CAUSAL_LM`) or a reward model (`SEQ_CLS`, whose score head trains in full)."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules) or "all-linear",
            task_type=task,
            # A new score head is random: it must train in full, not through an adapter.
            modules_to_save=["score"] if task == "SEQ_CLS" else None,
        )


@dataclass(frozen=True)
class HardwareSettings:
    """Device and precision of one trainer; every field's default means "what suits this machine"."""

    device: str = field(default="auto", metadata={"help": "`auto` (CUDA if present), `cpu` or `cuda`."})
    dtype: str = field(default="auto", metadata={"help": "Compute precision: auto (bf16 on GPUs that have it, else fp16; fp32 on CPU), fp32, bf16, fp16."})
    activation_checkpointing: bool | None = field(default=None, metadata={"help": "Recompute activations in the backward pass; default on GPU, off on CPU."})
    device_map: str | None = field(default=None, metadata={"help": "accelerate placement for a model larger than one device (`auto`, `balanced`); one process only."})
    lora: LoraSettings | None = field(default=None, metadata={"help": "Train a LoRA adapter instead of every weight."})

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device is one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype is one of {', '.join(DTYPES)}, not {self.dtype!r}")


@dataclass(frozen=True)
class Placement:
    """What `resolve` decided: the facts a trainer's config and model loading need."""

    cuda: bool
    compute_dtype: str  # float32 | bfloat16 | float16
    weights_dtype: str  # what trained weights are held in: always float32 (the masters autocast reads)
    base_dtype: str  # what the model is loaded in: float32, or the compute dtype for a frozen LoRA base
    activation_checkpointing: bool
    device_map: str | None
    lora: LoraSettings | None

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    def trainer_args(self) -> dict[str, Any]:
        """The precision and device arguments every trl config takes."""
        return {
            "use_cpu": not self.cuda,
            "bf16": self.compute_dtype == "bfloat16",
            "fp16": self.compute_dtype == "float16",
            "activation_checkpointing": self.activation_checkpointing,
        }

    def model_init_kwargs(self) -> dict[str, Any]:
        """`from_pretrained` arguments for the model a trainer trains (trl's `model_init_kwargs`)."""
        import torch

        kwargs: dict[str, Any] = {"dtype": getattr(torch, self.base_dtype)}
        # trl's own default is device_map="auto" on any GPU; None keeps the model whole for the trainer to place.
        kwargs["device_map"] = self.device_map if self.cuda else None
        if self.lora is not None and self.lora.four_bit:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=getattr(torch, self.compute_dtype),
            )
        return kwargs

    def peft_config(self, task: str = "CAUSAL_LM"):
        return self.lora.peft_config(task) if self.lora is not None else None

    def record(self) -> dict[str, Any]:
        """Plain JSON for run.json and the model card."""
        facts = {
            "device": self.device, "compute_dtype": self.compute_dtype, "weights_dtype": self.weights_dtype,
            "activation_checkpointing": self.activation_checkpointing, "device_map": self.device_map,
            "mixed_precision": self.compute_dtype != "float32",
        }
        if self.lora is not None:
            facts["lora"] = {**asdict(self.lora), "target_modules": list(self.lora.target_modules) or "all-linear",
                             "base_dtype": self.base_dtype}
        return facts


def resolve(settings: HardwareSettings | None = None, *, cuda: bool | None = None, bf16_ok: bool | None = None) -> Placement:
    """Decide device and precision for `settings` on this machine (`cuda`/`bf16_ok` override the probe, for tests)."""
    settings = settings or HardwareSettings()
    if cuda is None or bf16_ok is None:
        import torch

        cuda = torch.cuda.is_available() if cuda is None else cuda
        bf16_ok = (cuda and torch.cuda.is_bf16_supported()) if bf16_ok is None else bf16_ok
    if settings.device == "cuda" and not cuda:
        raise HardwareError("--device cuda: no CUDA device is visible to torch here")
    on_gpu = cuda and settings.device != "cpu"
    dtype = DTYPES[settings.dtype]
    if dtype == "auto":
        dtype = ("bfloat16" if bf16_ok else "float16") if on_gpu else "float32"
    if dtype == "float16" and not on_gpu:
        raise HardwareError("--dtype fp16 needs a GPU; on a CPU use fp32, or bf16 (CPU autocast, slow without bf16 instructions)")
    if dtype == "bfloat16" and on_gpu and not bf16_ok:
        raise HardwareError("--dtype bf16: this GPU has no bf16; use fp16")
    lora = settings.lora
    if lora is not None and lora.four_bit:
        if not on_gpu:
            raise HardwareError("QLoRA (4-bit) needs a CUDA GPU: bitsandbytes' 4-bit kernels do not run on this CPU")
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            raise HardwareError("QLoRA (4-bit) needs bitsandbytes: pip install bitsandbytes")
    if settings.device_map is not None and not on_gpu:
        raise HardwareError("--device-map places a model over GPUs; without one the model stays whole on the CPU")
    checkpointing = on_gpu if settings.activation_checkpointing is None else settings.activation_checkpointing
    # Frozen weights need no fp32 master: a LoRA base is loaded in the compute dtype (4-bit on top with QLoRA).
    base = dtype if lora is not None else "float32"
    return Placement(cuda=on_gpu, compute_dtype=dtype, weights_dtype="float32", base_dtype=base,
                     activation_checkpointing=checkpointing, device_map=settings.device_map, lora=lora)


# ---------------------------------------------------------------- models and adapters


def is_adapter(path: str | Path) -> bool:
    """Whether a folder holds a peft adapter rather than full weights."""
    return (Path(path) / ADAPTER_CONFIG).is_file() and not (Path(path) / "config.json").is_file()


def adapter_base(path: str | Path) -> str:
    import json

    return json.loads((Path(path) / ADAPTER_CONFIG).read_text(encoding="utf-8"))["base_model_name_or_path"]


def full_model(path: str | Path, *, sequence_classification: bool = False) -> str:
    """A folder of full weights for `path`: itself, or, for an adapter folder, the base with the adapter merged in.

    The merge is written once to `<adapter>/merged/` (and reused), so every
    trainer, the reference model trl builds and the local engine read the same
    full weights by path.
    """
    path = Path(path)
    if not is_adapter(path):
        return str(path)
    merged = path / "merged"
    if (merged / "config.json").is_file():
        return str(merged)
    from peft import AutoPeftModelForCausalLM, AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer

    loader = AutoPeftModelForSequenceClassification if sequence_classification else AutoPeftModelForCausalLM
    model = loader.from_pretrained(str(path)).merge_and_unload()
    model.save_pretrained(str(merged))
    AutoTokenizer.from_pretrained(str(path)).save_pretrained(str(merged))
    del model
    release()
    return str(merged)


def save_trained(trainer, out: Path, placement: Placement) -> dict[str, Any]:
    """Save what `trainer` trained into `out`: full weights, an adapter, or (LoRA with `merge`) the merged model
    with its adapter in `out/adapter/`. Returns the facts for the card: what the folder holds."""
    lora = placement.lora
    if lora is None:
        trainer.save_model(str(out))
        return {"weights": "full"}
    if not lora.merge:
        trainer.save_model(str(out))  # a PeftModel saves adapter_config.json + adapter_model.safetensors
        return {"weights": "lora_adapter", "base_model": adapter_base(out)}
    adapter_dir = out / ADAPTER_SUBDIR
    trainer.save_model(str(adapter_dir))
    if not trainer.accelerator.is_main_process:
        return {"weights": "merged_lora", "adapter": ADAPTER_SUBDIR}
    model = trainer.accelerator.unwrap_model(trainer.model)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(out))
    return {"weights": "merged_lora", "adapter": ADAPTER_SUBDIR, "base_model": adapter_base(adapter_dir)}


def release() -> None:
    """Give back the memory of what a phase dropped (its models, its trainer) before the next phase loads its own.

    The caller deletes its names first. Trainers hold their models in
    reference cycles (callbacks, the accelerator), which plain reference
    counting never frees; `gc.collect` does, and CUDA's cache is emptied after.
    """
    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - core installs without torch
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def weights_changed(before: Mapping[str, Any], model) -> float:
    """Share of the scalar weights in `before` (a name -> tensor snapshot) that differ in `model` now."""
    import torch

    now = dict(model.named_parameters())
    changed = total = 0
    for name, old in before.items():
        new = now[name].detach().to("cpu")
        changed += int(torch.ne(new.float(), old.float()).sum())
        total += old.numel()
    return changed / total if total else 0.0


def snapshot(model) -> dict[str, Any]:
    """A CPU copy of the trainable weights, for `weights_changed`."""
    return {n: p.detach().to("cpu").clone() for n, p in model.named_parameters() if p.requires_grad}
