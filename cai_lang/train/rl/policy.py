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
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

if TYPE_CHECKING:
    from cai_lang.train.modelcard import Provenance

from cai_lang.errors import CaicError
from cai_lang.train.hardware import resolve
from cai_lang.train.methods import METHODS as METHOD_REGISTRY
from cai_lang.train.methods import (  # noqa: F401 - the rows functions, importable from here as before
    TIE_EPSILON,
    dpo_rows,
    effective_tie_margin,
    is_near_tie,
    kto_rows,
)
from cai_lang.train.methods import method as method_entry
from cai_lang.train.trl_args import TrainerSettings

# The registry's methods, plus `ppo`: refused with the reason (`ppo_status`), so a later trl that brings it back is noticed.
METHOD_NAMES = (*METHOD_REGISTRY, "ppo")
SCALE_REWARDS = ("group", "batch", "none")
VLLM_MODES = ("colocate", "server")


class MethodUnavailable(CaicError, RuntimeError):
    """The requested optimisation method does not exist in the installed trl."""


# ---------------------------------------------------------------- data


# ---------------------------------------------------------------- rows of online methods


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
class PolicyTrainingConfig(TrainerSettings):
    """How to optimise the policy: the shared trainer settings, the method (`cai_lang.train.methods`),
    the KL strength, the offline tie margin and the online sampling; defaults are small and CPU-safe."""

    STAGE: ClassVar[str] = "policy"

    method: str = "dpo"  # a registry method; `ppo` is refused (trl 1.16 has none)
    learning_rate: float = 1e-6
    beta: float = 0.1  # KL strength against the reference (initial) policy
    tie_margin: float = 0.1  # offline: skip pairs whose soft label is this close to 0.5
    dpo_labels: str = "hard"  # DPO: `hard` (each pair's direction) or `soft` (conservative DPO, smoothing 1 - q per pair)
    max_length: int | None = None  # offline: longest prompt+response in tokens; None: the model's window
    label_clamp: tuple[float, float] | None = None  # offline: the band CoT labels were clamped to
    num_generations: int = 4  # online: completions per prompt
    max_completion_length: int = 64  # online: keep it small on a CPU
    temperature: float = 1.0  # online sampling
    scale_rewards: str | None = None  # GRPO: group, batch or none; default none for the labeller reward, group otherwise
    use_vllm: bool = False
    vllm_mode: str = "colocate"  # or `server` (`trl vllm-serve`)
    vllm_server_base_url: str | None = None
    vllm_gpu_memory_utilization: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scale_rewards is not None and self.scale_rewards not in SCALE_REWARDS:
            raise ValueError(f"scale_rewards is one of {', '.join(SCALE_REWARDS)}, not {self.scale_rewards!r}")
        if self.vllm_mode not in VLLM_MODES:
            raise ValueError(f"vLLM mode is `colocate` or `server`, not {self.vllm_mode!r}")
        if self.method not in METHOD_NAMES:
            raise ValueError(f"method is one of {', '.join(METHOD_NAMES)}, not {self.method!r}")
        if self.beta <= 0:
            raise ValueError("beta must be above 0")
        if self.dpo_labels not in ("hard", "soft"):
            raise ValueError(f"DPO labels are `hard` or `soft`, not {self.dpo_labels!r}")
        if self.dpo_labels == "soft" and self.method != "dpo":
            raise ValueError(f"soft labels (--dpo-labels soft) are for DPO, not {self.method}")
        if not 0.0 <= self.tie_margin < 0.5:
            raise ValueError(f"the tie margin must be in [0, 0.5), got {self.tie_margin}")
        if self.method in METHOD_REGISTRY and METHOD_REGISTRY[self.method].online:
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
    ledger: Any = None  # cai_lang.train.ledger.Ledger (offline methods): each row's fate in the trainer's dataset


def train_policy(
    policy_model: str | Path,
    config: PolicyTrainingConfig,
    *,
    provenance: "Provenance",
    preference_rows: Sequence[Mapping] | None = None,
    prompts: Sequence[Mapping] | None = None,
    reward: str | Path | Callable[..., list[float]] | None = None,
    resume: bool = False,
    on_ledger: Callable[[Any], None] | None = None,
) -> PolicyResult:
    """Optimise `policy_model` (a causal-LM folder, by default the SL-CAI model) and save it.

    Offline methods (DPO, KTO) need `preference_rows` (from
    `cai_lang.train.rl.preference.preference_rows`); online ones (RLOO, GRPO)
    need `prompts` (records with `prompt`/`conversation` and `context`) and
    `reward`: a preference-model folder or a reward function such as
    `labeller_reward(...)`. With `resume`, training continues from the last
    checkpoint in `config.output_dir`. Offline methods call `on_ledger(ledger)` before training with
    each row's fate in the trainer's own dataset (`cai_lang.train.ledger`).
    """
    from cai_lang.train.hardware import full_model

    if config.method == "ppo":
        problem = ppo_status()
        if problem:
            raise MethodUnavailable(problem)
        raise MethodUnavailable("a PPOTrainer exists in this trl, but caic does not drive it yet")
    entry = method_entry(config.method)
    if entry.online:
        if not prompts or reward is None:
            raise ValueError(f"{entry.label} needs prompts and a reward (a preference-model folder or a reward function)")
        return _released(_train_online(full_model(policy_model), config, provenance, prompts, reward, resume))
    if not preference_rows:
        raise ValueError(f"{entry.label} needs preference rows")
    return _released(_train_offline(full_model(policy_model), config, provenance, preference_rows, resume, on_ledger))


def _released(result: PolicyResult) -> PolicyResult:
    # The trainer and its models died with the frame that made them; their cycles go now.
    from cai_lang.train.hardware import release

    release()
    return result


def _trl_args(config: PolicyTrainingConfig, **extra: Any):
    """The method's trl config: the shared settings, beta, `extra`, then the `--trl` keys of the policy stage."""
    return config.trl_config(method_entry(config.method).config, config.output_dir, resolve(config.hardware), beta=config.beta, **extra)


def policy_trl_config(config: PolicyTrainingConfig, reward: Any = None):
    """The trl config `train_policy` will build for `config` (`reward`: a path or None for a preference
    model, a callable for the labeller), for checking settings before anything runs."""
    return _trl_args(config, **online_args(config, reward)) if method_entry(config.method).online else _trl_args(config)


def _tokenizer(policy_model: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(policy_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _as_text(row: dict) -> dict:
    """An offline row in trl's standard (text) format, for a tokenizer without a chat template."""
    from cai_lang.train.rl.preference import as_text, transcript

    if "completion" in row:  # KTO: one side of a pair
        return {"prompt": transcript(row["prompt"]) + "\n\nAssistant:", "completion": " " + "".join(m["content"] for m in row["completion"]),
                "label": row["label"]}
    return as_text(row)


def _train_offline(policy_model: str, config: PolicyTrainingConfig, provenance, preference_rows, resume: bool,
                   on_ledger: Callable[[Any], None] | None = None) -> PolicyResult:
    """DPO, KTO or any offline method of the registry: its rows from the labelled pairs, then its trl trainer.
    DPO with soft labels keeps every pair and trains conservative DPO (`rl/soft_dpo.py`). The max length is
    the config's, else the model's window; the ledger of what the trainer keeps goes to `on_ledger`."""
    from dataclasses import replace

    from datasets import Dataset

    from cai_lang.train.ledger import account, fit_max_length, model_window
    from cai_lang.train.rl.soft_dpo import SMOOTHING, soft_dpo_rows, soft_dpo_trainer_class
    from cai_lang.train.trl_args import train_resumable

    entry = method_entry(config.method)
    soft = config.dpo_labels == "soft"
    # Soft labels keep every pair (a near-tie teaches that neither side is better); hard ones drop near-ties.
    margin = 0.0 if soft else effective_tie_margin(config.tie_margin, config.label_clamp)
    decided = [r for r in preference_rows if soft or not is_near_tie(float(r["soft_label"]), margin)]
    rows = soft_dpo_rows(preference_rows) if soft else entry.rows(preference_rows, margin)
    if not rows:
        raise ValueError(
            f"every preference pair is a near-tie (soft label within {margin:g} of 0.5); nothing for {entry.label} to learn. "
            "Lower --tie-margin, or use a feedback model that can tell the responses apart"
        )
    ids = [str(r.get("pair_id") or r.get("id") or f"row-{n}") for n, r in enumerate(decided, start=1)]
    if len(rows) != len(ids):  # KTO: two rows per pair, the chosen side then the rejected one
        ids = [f"{pair}#{side}" for pair in ids for side in ("chosen", "rejected")]
    tokenizer = _tokenizer(policy_model)
    if not getattr(tokenizer, "chat_template", None):
        rows = [{**_as_text(row), **({SMOOTHING: row[SMOOTHING]} if soft else {})} for row in rows]
    elif config.chat_template_kwargs:
        rows = [{**row, "chat_template_kwargs": dict(config.chat_template_kwargs)} for row in rows]
    window = model_window(policy_model)
    max_length, max_length_from = fit_max_length(config.max_length, window)
    trainer_class = soft_dpo_trainer_class() if soft else entry.trl_classes()[0]
    dataset = Dataset.from_list(rows)
    trainer = trainer_class(model=policy_model, args=_trl_args(replace(config, max_length=max_length)), train_dataset=dataset,
                            processing_class=tokenizer, peft_config=resolve(config.hardware).peft_config("CAUSAL_LM"))
    ledger = account(trainer, dataset, ids, entry.label, max_length_from=max_length_from, window=window)
    if ledger is not None:
        if on_ledger is not None and trainer.accelerator.is_main_process:
            on_ledger(ledger)
        if not ledger.trained:
            raise ValueError(f"the {entry.label} trainer dropped all {len(ledger.rows)} rows (each prompt alone fills max length {max_length})")
    from cai_lang.train.progress import attach

    attach(trainer, entry.label)
    result = train_resumable(trainer, resume)
    # The pairs the trainer really trained on: decided ones its dataset kept.
    trained = {row.id.split("#")[0] for row in ledger.rows if row.fate != "dropped"} if ledger is not None else None
    kept = [r for r, row_id in zip(decided, [str(r.get("pair_id") or r.get("id") or f"row-{n}") for n, r in enumerate(decided, start=1)])
            if trained is None or row_id in trained]
    human = sum(r.get("source") == "human" for r in kept)
    strength = [abs(float(r["soft_label"]) - 0.5) for r in kept]
    data = {"pairs": len(kept), "rows": ledger.trained if ledger is not None else len(rows), "human_pairs": human,
            "skipped_near_ties": len(preference_rows) - len(decided),
            **({"rows dropped by the trainer": ledger.count("dropped"), "rows truncated": ledger.count("truncated")} if ledger is not None else {}),
            "labels": "soft (conservative DPO, smoothing 1 - q per pair)" if soft else "hard",
            "tie_margin_used": margin, "mean_label_strength": sum(strength) / len(strength) if strength else 0.0}
    saved = _save(trainer, config, policy_model, provenance, result, data)
    saved.ledger = ledger
    return saved


def _train_online(policy_model: str, config: PolicyTrainingConfig, provenance, prompts, reward, resume: bool) -> PolicyResult:
    from datasets import Dataset

    from cai_lang.train.hardware import full_model
    from cai_lang.train.trl_args import train_resumable

    entry = method_entry(config.method)
    trainer_class, _ = entry.trl_classes()
    tokenizer = _tokenizer(policy_model)
    args = policy_trl_config(config, reward)
    reward_funcs = full_model(reward, sequence_classification=True) if isinstance(reward, (str, Path)) else reward
    text = not getattr(tokenizer, "chat_template", None)
    trainer = trainer_class(
        model=policy_model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=Dataset.from_list(prompt_rows(prompts, text=text)),
        processing_class=tokenizer,
        peft_config=resolve(config.hardware).peft_config("CAUSAL_LM"),
    )
    from cai_lang.train.progress import attach

    attach(trainer, entry.label)
    result = train_resumable(trainer, resume)
    source = f"preference model {reward_funcs}" if isinstance(reward_funcs, str) else "the comparison labeller"
    return _save(trainer, config, policy_model, provenance, result, {"prompts": len(prompts), "reward_source": source})


def online_args(config: PolicyTrainingConfig, reward: Any) -> dict[str, Any]:
    """Online arguments beyond the common ones: sampling, reward scaling (GRPO) and vLLM."""
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


def _save(trainer, config: PolicyTrainingConfig, policy_model: str, provenance, result, data: dict) -> PolicyResult:
    from cai_lang.train.hardware import save_trained
    from cai_lang.train.modelcard import CardFacts, write_model_card, write_training_log
    from cai_lang.train.trl_args import clear_checkpoints

    entry = method_entry(config.method)
    out = Path(config.output_dir)
    placement = resolve(config.hardware)
    weights = save_trained(trainer, out, placement)
    trainer.save_state()
    clear_checkpoints(out)
    metrics = {"train_loss": result.training_loss, "steps": result.global_step}
    extra = {"scale_rewards": trainer.args.scale_rewards} if hasattr(trainer.args, "scale_rewards") else {}
    write_training_log(out, trainer.state.log_history, trainer=type(trainer).__name__, metrics=metrics, data=data,
                       hardware=placement.record(), weights=weights, **extra)
    training = entry.card_fields({k: v for k, v in asdict(config).items() if k not in ("output_dir", "hardware")})
    training.update(hardware=placement.record(), weights=weights, **extra)
    write_model_card(
        out,
        CardFacts(provenance=provenance, kind="policy", base_model=policy_model, method=entry.label, data=data, training=training, metrics=metrics),
    )
    return PolicyResult(out, config.method, result.global_step, result.training_loss, data)
