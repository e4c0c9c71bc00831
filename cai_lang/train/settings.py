"""From the user's options (`cai_lang.train.config`) to what each step takes: the one place they are mapped.

A data step (`GenerationStep`) gets the run folder, the model specs, the
prompt selection, the server settings and its generation settings; a
trainer gets its own settings (`SFTSettings`, `PreferenceTrainingConfig`,
`PolicyTrainingConfig`), with the shared options (`--max-steps`,
`--train-batch-size`, `--seed`, ...) filled in and the per-trainer ones
(`--pm-max-steps`, `--rl-max-steps`) taking precedence. A value no step
accepts raises `ConfigError` naming the option; the CLI shows it and exits 2.
Trainer modules are imported inside the functions (their settings classes
are plain dataclasses; torch is imported only when they train).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cai_lang.train.config import LabelConfig, PolicyConfig, PreferenceConfig, RunConfig, SFTConfig, SLConfig, TrainConfig
from cai_lang.train.run.model_specs import ServerSettings
from cai_lang.train.run.prompts import PromptSelection, PromptSetError


class ConfigError(ValueError):
    """Options that no step can run with; the message names the option."""


@dataclass
class GenerationStep:
    """What a data step (SL rows, RL pairs and labels) needs besides the bundle."""

    source: Path
    model: str
    output: Path
    generation: Any  # SLGenerationConfig or RLGenerationConfig
    deployment: str | None = None
    helpers: tuple[str, ...] = ()  # the critic (SL) or the feedback models (RL) named on the command line
    prompts: PromptSelection = field(default_factory=PromptSelection)
    batch_size: int = 32
    device: str = "auto"
    resume: bool = False
    argv: list[str] | None = None
    server: ServerSettings = field(default_factory=ServerSettings)

    @property
    def critic_model(self) -> str | None:
        return self.helpers[0] if self.helpers else None

    @property
    def feedback(self) -> tuple[str, ...]:
        """The feedback models: those named, or the policy itself."""
        return self.helpers or (self.model,)


def _step(run: RunConfig, generation: Any, helpers: tuple[str, ...], model: str | None = None) -> GenerationStep:
    if not run.file.exists():
        raise ConfigError(f"cannot read {run.file}: no such file or folder")
    try:
        selection = PromptSelection(
            sources=tuple(run.prompts or ("red_team",)),
            helpful=None if run.helpful.lower() == "none" else run.helpful,
            helpful_fraction=run.helpful_fraction,
            split=run.split,
            max_prompts=run.max_prompts,
            seed=run.seed,
        )
    except PromptSetError as exc:
        raise ConfigError(str(exc)) from exc
    return GenerationStep(
        source=run.file, model=model or run.model, output=run.output, generation=generation, deployment=run.deployment,
        helpers=helpers, prompts=selection, batch_size=run.batch_size, device=run.device, resume=run.resume,
        argv=run.argv, server=ServerSettings(
            served_model=run.served_model, api_key_env=run.api_key_env, request_timeout=run.request_timeout, max_retries=run.max_retries
        ),
    )


def sl_step(run: RunConfig, sl: SLConfig) -> GenerationStep:
    from cai_lang.train.sl.generate import SLGenerationConfig

    try:
        generation = SLGenerationConfig(
            rounds=sl.rounds, seed=run.seed, max_new_tokens=run.max_new_tokens, temperature=run.temperature,
            top_p=run.top_p, dialect=run.dialect, chunk_size=run.chunk_size, long_prompts=run.long_prompts,
            infer_context=run.infer_context,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return _step(run, generation, (sl.critic_model,) if sl.critic_model else ())


def rl_step(run: RunConfig, labels: LabelConfig, model: str | None = None) -> GenerationStep:
    """The RL data step; `model` replaces --model as the policy (`--phase all`: the SL model)."""
    from cai_lang.train.rl.generate import RLGenerationConfig

    try:
        generation = RLGenerationConfig(
            seed=run.seed, max_new_tokens=run.max_new_tokens, temperature=run.temperature, top_p=run.top_p,
            dialect=run.dialect, mode=labels.mode, margin=labels.margin, cot=labels.cot, clamp=tuple(labels.clamp),
            ensemble=labels.ensemble, chunk_size=run.chunk_size, long_prompts=run.long_prompts,
            infer_context=run.infer_context,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return _step(run, generation, tuple(labels.feedback_model or ()), model)


def sft_settings(run: RunConfig, sft: SFTConfig):
    from cai_lang.train.sl.sft import SFTSettings

    try:
        return SFTSettings(
            max_steps=sft.max_steps, epochs=sft.epochs, batch_size=sft.train_batch_size,
            gradient_accumulation_steps=sft.gradient_accumulation, learning_rate=sft.learning_rate, max_length=sft.max_length,
            seed=run.seed, logging_steps=sft.logging_steps, device="cpu" if run.device == "cpu" else "auto",
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass
class RLTraining:
    """How the RL phase trains: the preference model's and the policy's settings, and where they start."""

    method: str
    reward: str
    human_preferences: Path | None
    preference_base: str | None
    preference: Any  # PreferenceTrainingConfig
    policy: Any  # PolicyTrainingConfig

    @property
    def online(self) -> bool:
        return self.method in ("rloo", "grpo")


def rl_training(run: RunConfig, sft: SFTConfig, pm: PreferenceConfig, policy: PolicyConfig) -> RLTraining:
    """The RL trainers' settings; refuses PPO (not in trl 1.16) and a --reward for offline DPO."""
    from cai_lang.train.rl.policy import PolicyTrainingConfig, ppo_status
    from cai_lang.train.rl.preference import PreferenceTrainingConfig

    if policy.method == "ppo":
        raise ConfigError(ppo_status() or "caic does not drive trl's PPOTrainer yet; use --method rloo or grpo")
    if policy.reward is not None and policy.method not in ("rloo", "grpo"):
        raise ConfigError(f"--reward chooses the reward of online RL (--method rloo or grpo), not of --method {policy.method}")
    if pm.human_preferences is not None and not Path(pm.human_preferences).is_file():
        raise ConfigError(f"cannot read {pm.human_preferences}: no such file")
    try:
        preference = PreferenceTrainingConfig(
            max_steps=sft.max_steps if pm.pm_max_steps is None else pm.pm_max_steps, num_train_epochs=sft.epochs,
            learning_rate=pm.pm_learning_rate, batch_size=sft.train_batch_size, max_length=sft.max_length,
            eval_fraction=pm.pm_eval_fraction, seed=run.seed, logging_steps=sft.logging_steps,
        )
        trainer = PolicyTrainingConfig(
            method=policy.method, max_steps=sft.max_steps if policy.rl_max_steps is None else policy.rl_max_steps,
            num_train_epochs=sft.epochs, learning_rate=policy.rl_learning_rate, batch_size=sft.train_batch_size,
            beta=policy.beta, tie_margin=policy.tie_margin, max_length=sft.max_length, num_generations=policy.num_generations,
            max_completion_length=policy.max_completion_length, temperature=run.temperature if run.temperature > 0 else 1.0,
            seed=run.seed, logging_steps=sft.logging_steps,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return RLTraining(
        method=policy.method, reward=policy.reward or "preference-model",
        human_preferences=Path(pm.human_preferences) if pm.human_preferences is not None else None,
        preference_base=pm.preference_base, preference=preference, policy=trainer,
    )


def check_train_config(config: TrainConfig) -> None:
    """Every setting `caic train` will need, built once up front so a bad value fails before anything slow."""
    sl_step(config.run, config.sl)
    sft_settings(config.run, config.sft)
    if config.uses_rl:
        rl_step(config.run, config.labels)
        rl_training(config.run, config.sft, config.preference, config.policy)
