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
`training_log.json` and trl's `trainer_state.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

if TYPE_CHECKING:
    from cai_lang.train.modelcard import Provenance

Method = Literal["dpo", "rloo", "grpo", "ppo"]
METHODS = ("dpo", "rloo", "grpo", "ppo")


class MethodUnavailable(RuntimeError):
    """The requested optimisation method does not exist in the installed trl."""


# ---------------------------------------------------------------- data


def dpo_rows(preference_rows: Sequence[Mapping], tie_margin: float = 0.1) -> list[dict]:
    """DPO's prompt/chosen/rejected rows from soft-labelled rows, dropping labels within `tie_margin` of 0.5.

    Rows may be oriented either way: a soft label below 0.5 swaps the sides.
    """
    rows = []
    for row in preference_rows:
        q = float(row["soft_label"])
        if abs(q - 0.5) < tie_margin or q == 0.5:
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


def labeller_reward(labeller, aggregator) -> Callable[..., list[float]]:
    """A trl reward function that asks the labeller, not a preference model.

    Completions of the same prompt are compared with each other in every
    pairing (both orders, per the labeller); a completion's reward is its mean
    P(better) against the others of its group. GRPO and RLOO normalise rewards
    within a group, so only these relative values matter.
    """
    from cai_lang.train.rl.aggregate import label_pairs

    def reward(prompts, completions, **columns) -> list[float]:
        contexts = columns.get("context") or [None] * len(prompts)
        conversations = columns.get("conversation") or [None] * len(prompts)
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(json.dumps(prompt, sort_keys=True, default=str), []).append(i)
        pairs, owners = [], []
        for key, members in groups.items():
            for left, right in combinations(members, 2):
                context = contexts[left]
                pairs.append(
                    {
                        "id": f"{key}\x00{left}\x00{right}",
                        "conversation": json.loads(conversations[left]) if isinstance(conversations[left], str) else _conversation(prompts[left]),
                        "context": json.loads(context) if isinstance(context, str) else dict(context or {}),
                        "response_a": _text(completions[left]),
                        "response_b": _text(completions[right]),
                    }
                )
                owners.append((left, right))
        wins = [0.0] * len(prompts)
        games = [0] * len(prompts)
        for (left, right), label in zip(owners, label_pairs(pairs, labeller, aggregator) if pairs else []):
            wins[left] += label.p_a
            wins[right] += 1.0 - label.p_a
            games[left] += 1
            games[right] += 1
        return [w / g if g else 0.5 for w, g in zip(wins, games)]

    reward.__name__ = "constitution_labeller"
    return reward


def _conversation(prompt: Any) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def _text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] for m in completion if m.get("role", "assistant") == "assistant")


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
    # A list, not a tuple: it is recorded in run.json and compared when a run resumes.
    report_to: list[str] = field(default_factory=list, metadata={"help": "Experiment trackers the trainer logs to (transformers' `report_to`); empty: none."})

    def __post_init__(self) -> None:
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
    method = config.method
    if method == "ppo":
        problem = ppo_status()
        if problem:
            raise MethodUnavailable(problem)
        raise MethodUnavailable("a PPOTrainer exists in this trl, but caic does not drive it yet")
    if method == "dpo":
        if not preference_rows:
            raise ValueError("DPO needs preference rows")
        return _train_dpo(str(policy_model), config, provenance, preference_rows)
    if method in ("rloo", "grpo"):
        if not prompts or reward is None:
            raise ValueError(f"{method.upper()} needs prompts and a reward (a preference-model folder or a reward function)")
        return _train_online(str(policy_model), config, provenance, prompts, reward)
    raise ValueError(f"unknown method {method!r}; use dpo, rloo or grpo")


def _common_args(config: PolicyTrainingConfig) -> dict[str, Any]:
    from cai_lang.train.rl.preference import device_settings

    return dict(
        output_dir=config.output_dir,
        max_steps=config.max_steps,
        num_train_epochs=config.num_train_epochs,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        seed=config.seed,
        logging_steps=config.logging_steps,
        beta=config.beta,
        **device_settings(config.report_to),
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

    rows = dpo_rows(preference_rows, config.tie_margin)
    if not rows:
        raise ValueError(
            f"every preference pair is a near-tie (soft label within {config.tie_margin} of 0.5); nothing for DPO to learn. "
            "Lower --tie-margin, or use a feedback model that can tell the responses apart"
        )
    tokenizer = _tokenizer(policy_model)
    if not getattr(tokenizer, "chat_template", None):
        rows = [as_text(row) for row in rows]
    args = DPOConfig(max_length=config.max_length, **_common_args(config))
    trainer = DPOTrainer(model=policy_model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    from cai_lang.train.progress import attach

    attach(trainer, "DPO")
    result = trainer.train()
    human = sum(r.get("source") == "human" for r in preference_rows if abs(float(r["soft_label"]) - 0.5) >= config.tie_margin and float(r["soft_label"]) != 0.5)
    data = {"pairs": len(rows), "human_pairs": human, "skipped_near_ties": len(preference_rows) - len(rows)}
    return _save(trainer, config, policy_model, provenance, "DPO", result, data)


def _train_online(policy_model: str, config: PolicyTrainingConfig, provenance, prompts, reward) -> PolicyResult:
    from datasets import Dataset

    if config.method == "rloo":
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer
    else:
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    tokenizer = _tokenizer(policy_model)
    args = Config(
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
        **_common_args(config),
    )
    reward_funcs = str(reward) if isinstance(reward, Path) else reward
    text = not getattr(tokenizer, "chat_template", None)
    trainer = Trainer(
        model=policy_model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=Dataset.from_list(prompt_rows(prompts, text=text)),
        processing_class=tokenizer,
    )
    from cai_lang.train.progress import attach

    attach(trainer, config.method.upper())
    result = trainer.train()
    source = f"preference model {reward_funcs}" if isinstance(reward_funcs, str) else "the comparison labeller"
    return _save(trainer, config, policy_model, provenance, config.method.upper(), result, {"prompts": len(prompts), "reward_source": source})


def _save(trainer, config: PolicyTrainingConfig, policy_model: str, provenance, method: str, result, data: dict) -> PolicyResult:
    from cai_lang.train.modelcard import CardFacts, write_model_card, write_training_log

    out = Path(config.output_dir)
    trainer.save_model(str(out))
    trainer.save_state()
    metrics = {"train_loss": result.training_loss, "steps": result.global_step}
    write_training_log(out, trainer.state.log_history, trainer=type(trainer).__name__, metrics=metrics, data=data)
    training = {k: v for k, v in asdict(config).items() if k != "output_dir"}
    if method == "DPO":
        for online_only in ("num_generations", "max_completion_length", "temperature"):
            training.pop(online_only)
    else:
        training.pop("tie_margin")
    write_model_card(
        out,
        CardFacts(provenance=provenance, kind="policy", base_model=policy_model, method=method, data=data, training=training, metrics=metrics),
    )
    return PolicyResult(out, config.method, result.global_step, result.training_loss, data)
