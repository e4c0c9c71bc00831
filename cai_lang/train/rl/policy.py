"""Policy optimisation for RL-CAI: DPO offline, RLOO or GRPO online, and the model cards they leave.

`dpo` (the default) needs no reward model at training time: it turns the
labelled preference rows into chosen/rejected pairs, skipping near-ties
whose soft label is within `tie_margin` of 0.5 (a coin-flip label would
teach DPO a preference the labeller does not hold). `rloo` and `grpo` sample
completions online and score them with a reward: the trained preference
model (its folder, which trl loads as a sequence classifier) or the labeller
itself through `labeller_reward`, which compares the completions of each
prompt with one another. `ppo` is refused with the reason: trl 1.16 has no
PPOTrainer, not even in `trl.experimental` (`ppo_status` checks at run
time, so a later trl that brings it back is reported). Every method saves a
Hugging Face folder (`AutoModelForCausalLM` loads it) with a model card that
carries the bundle's content hash (`cai_lang.train.modelcard`), the trainer's
`training_log.json` and trl's `trainer_state.json`. Device, precision and
LoRA come from `cai_lang.train.hardware`; with a LoRA adapter DPO needs no
second model (the reference is the adapter switched off).

The tie margin is compared with a tolerance (`TIE_EPSILON`): CoT labels are
clamped to a band such as 0.4-0.6, and in floating point 0.6 - 0.5 is
0.0999..., which a strict `< 0.1` would call a tie, dropping every
model-judged pair. trl 1.16's DPO loss takes no per-row weight or soft
label (its `label_smoothing` is one number for the whole set, read by the
`robust`, `exo_pair`, `aot` and `bco` losses only), so DPO learns the
direction of a label; its strength trains the preference model, whose loss
is soft. For GRPO with the labeller as reward, rewards are not divided by
their group's spread (`scale_rewards="none"`): labeller rewards are mean
P(better) in [0, 1], and a near-tie group (spread 1e-4) scaled to unit
variance turns labelling noise into full-size advantages.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

if TYPE_CHECKING:
    from cai_lang.train.modelcard import Provenance

from cai_lang.errors import CaicError
from cai_lang.train.hardware import HardwareSettings, resolve

Method = Literal["dpo", "rloo", "grpo", "ppo"]
METHODS = ("dpo", "rloo", "grpo", "ppo")
SCALE_REWARDS = ("group", "batch", "none")
VLLM_MODES = ("colocate", "server")
# Far below any margin anyone sets, far above float rounding of labels near 0.5.
TIE_EPSILON = 1e-9


class MethodUnavailable(CaicError, RuntimeError):
    """The requested optimisation method does not exist in the installed trl."""


# ---------------------------------------------------------------- data


def is_near_tie(q: float, tie_margin: float) -> bool:
    """Whether soft label `q` lies closer to 0.5 than `tie_margin` (a label exactly at the margin is kept)."""
    return q == 0.5 or abs(q - 0.5) < tie_margin - TIE_EPSILON


def effective_tie_margin(tie_margin: float, clamp: tuple[float, float] | None) -> float:
    """The margin judged against the band CoT labels are clamped to: never wider than the band's half-width,
    or a band narrower than the margin (e.g. 0.45-0.55 with 0.1) would leave DPO no pair at all."""
    if clamp is None:
        return tie_margin
    low, high = clamp
    return min(tie_margin, min(high - 0.5, 0.5 - low))


def dpo_rows(preference_rows: Sequence[Mapping], tie_margin: float = 0.1) -> list[dict]:
    """DPO's prompt/chosen/rejected rows from soft-labelled rows, dropping labels within `tie_margin` of 0.5.

    Rows may be oriented either way: a soft label below 0.5 swaps the sides.
    """
    rows = []
    for row in preference_rows:
        q = float(row["soft_label"])
        if is_near_tie(q, tie_margin):
            continue
        chosen, rejected = (row["chosen"], row["rejected"]) if q > 0.5 else (row["rejected"], row["chosen"])
        rows.append({"prompt": row["prompt"], "chosen": chosen, "rejected": rejected})
    return rows


def prompt_rows(prompts: Sequence[Mapping], text: bool = False) -> list[dict]:
    """Online-RL rows: a conversational `prompt` (or, with `text`, the paper's `Human: …\n\nAssistant:`
    transcript, for models without a chat template), and the `conversation` and `context` labels as
    JSON text for the reward (datasets would otherwise turn dicts with differing keys into structs
    padded with nulls)."""
    from cai_lang.train.rl.pairs import prompt_conversation
    from cai_lang.train.rl.preference import transcript

    rows = []
    for p in prompts:
        conversation = prompt_conversation(p)
        rows.append(
            {
                "prompt": transcript(conversation) + "\n\nAssistant:" if text else conversation,
                "conversation": json.dumps(conversation),
                "context": json.dumps(dict(p.get("context") or {}), sort_keys=True),
            }
        )
    return rows


# ---------------------------------------------------------------- rewards


def labeller_reward(labeller, aggregator) -> Callable[..., list[float | None]]:
    """A trl reward function that asks the labeller, not a preference model.

    Completions of the same prompt are compared with each other in every
    pairing (both orders, per the labeller); a completion's reward is its mean
    P(better) against the others of its group. GRPO and RLOO normalise rewards
    within a group, so only these relative values matter. It is the judge's
    callable (`rl.rewards.trl_reward_function`), set to stop the run when a
    judgement fails rather than train on a reward nobody computed.
    """
    from cai_lang.train.rl.rewards import trl_reward_function

    return trl_reward_function(labeller, aggregator, on_failure="raise")


# ---------------------------------------------------------------- training


@dataclass
class PolicyTrainingConfig:
    """How to optimise the policy; defaults are small and CPU-safe."""

    output_dir: str = field(default="", metadata={"help": "Where the policy folder is saved (the pipeline sets it)."})
    method: Method = field(default="dpo", metadata={"help": "dpo (offline), rloo or grpo (online); ppo is refused in trl 1.16."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; -1 trains for num_train_epochs."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs when max_steps is -1."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Peak learning rate."})
    batch_size: int = field(default=8, metadata={"help": "Rows (DPO) or completions (RLOO/GRPO) per device per step."})
    beta: float = field(default=0.1, metadata={"help": "KL strength against the reference (initial) policy."})
    tie_margin: float = field(default=0.1, metadata={"help": "DPO: skip pairs whose soft label is this close to 0.5."})
    max_length: int | None = field(default=1024, metadata={"help": "DPO: longest prompt+response in tokens."})
    num_generations: int = field(default=4, metadata={"help": "RLOO/GRPO: completions per prompt (at least 2)."})
    max_completion_length: int = field(default=64, metadata={"help": "RLOO/GRPO: completion length; keep it small on CPU."})
    temperature: float = field(default=1.0, metadata={"help": "RLOO/GRPO sampling temperature."})
    seed: int = field(default=0, metadata={"help": "Seeds data order and sampling."})
    logging_steps: int = field(default=10, metadata={"help": "Log every this many steps."})
    label_clamp: tuple[float, float] | None = field(default=None, metadata={"help": "DPO: the band CoT labels were clamped to; the tie margin is judged against it."})
    scale_rewards: str | None = field(default=None, metadata={"help": "GRPO: group, batch or none; default none for the labeller reward, trl's group otherwise."})
    use_vllm: bool = field(default=False, metadata={"help": "RLOO/GRPO: generate with vLLM (trl's option; needs vllm installed)."})
    vllm_mode: str = field(default="colocate", metadata={"help": "`colocate` (vLLM in the training process) or `server` (`trl vllm-serve`)."})
    vllm_server_base_url: str | None = field(default=None, metadata={"help": "vLLM server mode: the server's base URL."})
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={"help": "Colocated vLLM: share of GPU memory it may take."})
    hardware: HardwareSettings = field(default_factory=HardwareSettings, metadata={"help": "Device, precision, checkpointing, LoRA."})
    chat_template_kwargs: dict = field(default_factory=dict, metadata={"help": "Passed to the chat template, e.g. {'enable_thinking': False}."})
    # A list, not a tuple: it is recorded in run.json and compared when a run resumes.
    report_to: list[str] = field(default_factory=list, metadata={"help": "Experiment trackers the trainer logs to (transformers' `report_to`); empty: none."})

    def __post_init__(self) -> None:
        if self.scale_rewards is not None and self.scale_rewards not in SCALE_REWARDS:
            raise ValueError(f"scale_rewards is one of {', '.join(SCALE_REWARDS)}, not {self.scale_rewards!r}")
        if self.vllm_mode not in VLLM_MODES:
            raise ValueError(f"vLLM mode is `colocate` or `server`, not {self.vllm_mode!r}")
        if self.method not in METHODS:
            raise ValueError(f"method is one of {', '.join(METHODS)}, not {self.method!r}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError("policy max steps must be positive, or -1 to train by epochs")
        if self.batch_size < 1 or self.beta <= 0:
            raise ValueError("policy batch size must be at least 1 and beta above 0")
        if not 0.0 <= self.tie_margin < 0.5:
            raise ValueError(f"the tie margin must be in [0, 0.5), got {self.tie_margin}")
        if self.method in ("rloo", "grpo"):
            if self.num_generations < 2:
                raise ValueError("online RL needs at least 2 generations per prompt, to compare them")
            if self.batch_size % self.num_generations:
                raise ValueError(
                    f"the batch size ({self.batch_size}) must be a multiple of the generations per prompt ({self.num_generations}): "
                    "each batch holds whole groups"
                )


def ppo_status() -> str | None:
    """None when a PPO trainer is importable from trl; otherwise why not."""
    import importlib

    for module, name in (("trl", "PPOTrainer"), ("trl.experimental.ppo", "PPOTrainer")):
        try:
            if hasattr(importlib.import_module(module), name):
                return None
        except ImportError:
            continue
    import trl

    return (
        f"trl {trl.__version__} has no PPOTrainer (neither `trl.PPOTrainer` nor `trl.experimental.ppo`); "
        "use --method rloo or grpo for online RL, or dpo offline"
    )


@dataclass
class PolicyResult:
    output_dir: Path
    method: str
    steps: int
    train_loss: float | None
    details: dict = field(default_factory=dict)


def train_policy(
    policy_model: str | Path,
    config: PolicyTrainingConfig,
    *,
    provenance: "Provenance",
    preference_rows: Sequence[Mapping] | None = None,
    prompts: Sequence[Mapping] | None = None,
    reward: str | Path | Callable[..., list[float]] | None = None,
) -> PolicyResult:
    """Optimise `policy_model` (a causal-LM folder, by default the SL-CAI model) and save it.

    DPO needs `preference_rows` (from `cai_lang.train.rl.preference.preference_rows`);
    RLOO and GRPO need `prompts` (records with `prompt`/`conversation` and
    `context`) and `reward`: a preference-model folder or a reward function
    such as `labeller_reward(...)`.
    """
    from cai_lang.train.hardware import full_model

    method = config.method
    if method == "ppo":
        problem = ppo_status()
        if problem:
            raise MethodUnavailable(problem)
        raise MethodUnavailable("a PPOTrainer exists in this trl, but caic does not drive it yet")
    if method == "dpo":
        if not preference_rows:
            raise ValueError("DPO needs preference rows")
        return _released(_train_dpo(full_model(policy_model), config, provenance, preference_rows))
    if method in ("rloo", "grpo"):
        if not prompts or reward is None:
            raise ValueError(f"{method.upper()} needs prompts and a reward (a preference-model folder or a reward function)")
        return _released(_train_online(full_model(policy_model), config, provenance, prompts, reward))
    raise ValueError(f"unknown method {method!r}; use dpo, rloo or grpo")


def _released(result: PolicyResult) -> PolicyResult:
    # The trainer and its models died with the frame that made them; their cycles go now.
    from cai_lang.train.hardware import release

    release()
    return result


def _common_args(config: PolicyTrainingConfig) -> dict[str, Any]:
    from cai_lang.train.rl.preference import device_settings

    placement = resolve(config.hardware)
    return dict(
        output_dir=config.output_dir,
        max_steps=config.max_steps,
        num_train_epochs=config.num_train_epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        seed=config.seed,
        logging_steps=config.logging_steps,
        beta=config.beta,
        **device_settings(placement, config.report_to),
    )


def _tokenizer(policy_model: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(policy_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _train_dpo(policy_model: str, config: PolicyTrainingConfig, provenance, preference_rows) -> PolicyResult:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from cai_lang.train.rl.preference import as_text

    margin = effective_tie_margin(config.tie_margin, config.label_clamp)
    rows = dpo_rows(preference_rows, margin)
    if not rows:
        raise ValueError(
            f"every preference pair is a near-tie (soft label within {margin:g} of 0.5); nothing for DPO to learn. "
            "Lower --tie-margin, or use a feedback model that can tell the responses apart"
        )
    tokenizer = _tokenizer(policy_model)
    if not getattr(tokenizer, "chat_template", None):
        rows = [as_text(row) for row in rows]
    elif config.chat_template_kwargs:
        rows = [{**row, "chat_template_kwargs": dict(config.chat_template_kwargs)} for row in rows]
    args = DPOConfig(max_length=config.max_length, **_common_args(config))
    trainer = DPOTrainer(model=policy_model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=resolve(config.hardware).peft_config("CAUSAL_LM"))
    from cai_lang.train.progress import attach

    attach(trainer, "DPO")
    result = trainer.train()
    kept = [r for r in preference_rows if not is_near_tie(float(r["soft_label"]), margin)]
    human = sum(r.get("source") == "human" for r in kept)
    strength = [abs(float(r["soft_label"]) - 0.5) for r in kept]
    data = {"pairs": len(rows), "human_pairs": human, "skipped_near_ties": len(preference_rows) - len(rows),
            "tie_margin_used": margin, "mean_label_strength": sum(strength) / len(strength)}
    return _save(trainer, config, policy_model, provenance, "DPO", result, data)


def _train_online(policy_model: str, config: PolicyTrainingConfig, provenance, prompts, reward) -> PolicyResult:
    from datasets import Dataset

    if config.method == "rloo":
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer
    else:
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    from cai_lang.train.hardware import full_model

    tokenizer = _tokenizer(policy_model)
    args = Config(**online_args(config, reward), **_common_args(config))
    reward_funcs = full_model(reward, sequence_classification=True) if isinstance(reward, (str, Path)) else reward
    text = not getattr(tokenizer, "chat_template", None)
    trainer = Trainer(
        model=policy_model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=Dataset.from_list(prompt_rows(prompts, text=text)),
        processing_class=tokenizer,
        peft_config=resolve(config.hardware).peft_config("CAUSAL_LM"),
    )
    from cai_lang.train.progress import attach

    attach(trainer, config.method.upper())
    result = trainer.train()
    source = f"preference model {reward_funcs}" if isinstance(reward_funcs, str) else "the comparison labeller"
    return _save(trainer, config, policy_model, provenance, config.method.upper(), result, {"prompts": len(prompts), "reward_source": source})


def online_args(config: PolicyTrainingConfig, reward: Any) -> dict[str, Any]:
    """RLOO/GRPO arguments beyond the common ones: sampling, reward scaling (GRPO) and vLLM."""
    args: dict[str, Any] = {
        "num_generations": config.num_generations,
        "max_completion_length": config.max_completion_length,
        "temperature": config.temperature,
    }
    if config.chat_template_kwargs:
        args["chat_template_kwargs"] = dict(config.chat_template_kwargs)
    if config.method == "grpo":
        args["scale_rewards"] = config.scale_rewards or ("none" if callable(reward) else "group")
    if config.use_vllm:
        args.update(use_vllm=True, vllm_mode=config.vllm_mode)
        if config.vllm_mode == "server" and config.vllm_server_base_url:
            args["vllm_server_base_url"] = config.vllm_server_base_url
        if config.vllm_mode == "colocate":
            args["vllm_gpu_memory_utilization"] = config.vllm_gpu_memory_utilization
    return args


def _save(trainer, config: PolicyTrainingConfig, policy_model: str, provenance, method: str, result, data: dict) -> PolicyResult:
    from cai_lang.train.hardware import save_trained
    from cai_lang.train.modelcard import CardFacts, write_model_card, write_training_log

    out = Path(config.output_dir)
    placement = resolve(config.hardware)
    weights = save_trained(trainer, out, placement)
    trainer.save_state()
    metrics = {"train_loss": result.training_loss, "steps": result.global_step}
    extra = {"scale_rewards": trainer.args.scale_rewards} if hasattr(trainer.args, "scale_rewards") else {}
    write_training_log(out, trainer.state.log_history, trainer=type(trainer).__name__, metrics=metrics, data=data,
                       hardware=placement.record(), weights=weights, **extra)
    training = {k: v for k, v in asdict(config).items() if k not in ("output_dir", "hardware")}
    training.update(hardware=placement.record(), weights=weights, **extra)
    if method == "DPO":
        for online_only in ("num_generations", "max_completion_length", "temperature", "scale_rewards", "use_vllm",
                            "vllm_mode", "vllm_server_base_url", "vllm_gpu_memory_utilization"):
            training.pop(online_only)
    else:
        for offline_only in ("tie_margin", "label_clamp"):
            training.pop(offline_only)

    write_model_card(
        out,
        CardFacts(provenance=provenance, kind="policy", base_model=policy_model, method=method, data=data, training=training, metrics=metrics),
    )
    return PolicyResult(out, config.method, result.global_step, result.training_loss, data)
