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

from pathlib import Path
from typing import Any

from cai_lang.errors import CaicError
from cai_lang.train.config import (
    FineTuneConfig,
    HardwareConfig,
    LabelConfig,
    PolicyConfig,
    PreferenceConfig,
    RunConfig,
    SLConfig,
    TrainConfig,
    TrlConfig,
)
from cai_lang.train.methods import ONLINE
from cai_lang.train.methods import method as method_entry
from cai_lang.train.run.model_specs import ServerSettings
from cai_lang.train.run.prompts import PromptSelection, PromptSetError
from cai_lang.train.run.session import GenerationStep


class ConfigError(CaicError, ValueError):
    """Options that no step can run with; the message names the option."""


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
            served_model=run.served_model, api_key_env=run.api_key_env, request_timeout=run.request_timeout,
            max_retries=run.max_retries, chat_template_kwargs=run.template_kwargs() or None, tokenizer=run.server_tokenizer,
        ),
    )


def sl_step(run: RunConfig, sl: SLConfig) -> GenerationStep:
    from cai_lang.train.sl.generate import SLGenerationConfig

    try:
        generation = SLGenerationConfig(
            rounds=sl.rounds, seed=run.seed, max_new_tokens=run.max_new_tokens, temperature=run.temperature,
            top_p=run.top_p, dialect=run.dialect, chunk_size=run.chunk_size, long_prompts=run.long_prompts,
            infer_context=run.infer_context, critic_dialect=sl.critic_dialect, early_stop=sl.early_stop == "on",
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
            infer_context=run.infer_context, feedback_dialect=labels.feedback_dialect,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return _step(run, generation, tuple(labels.feedback_model or ()), model)


def report_to(sft: FineTuneConfig) -> list[str]:
    """The experiment trackers of `--report-to`, checked before anything trains: known to transformers and installed."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK, get_available_reporting_integrations

    names = list(dict.fromkeys(sft.report_to or ()))
    if "none" in names:
        return []
    if "all" in names:
        return ["all"]
    available = set(get_available_reporting_integrations())
    for name in names:
        if name not in INTEGRATION_TO_CALLBACK:
            raise ConfigError(f"--report-to {name}: not a tracker transformers knows; use one of {', '.join(sorted(INTEGRATION_TO_CALLBACK))}")
        if name not in available:
            raise ConfigError(f"--report-to {name}: its package is not installed (pip install {name.replace('_', '-')})")
    return names


def hardware_settings(run: RunConfig, hardware: HardwareConfig | None):
    """Every trainer's device, precision and LoRA (`cai_lang.train.hardware`); checked against this machine."""
    from cai_lang.train.hardware import HardwareError, HardwareSettings, LoraSettings, resolve

    hardware = hardware or HardwareConfig()
    try:
        lora = None
        if hardware.lora_r is not None:
            lora = LoraSettings(r=hardware.lora_r, alpha=hardware.lora_alpha or 2 * hardware.lora_r, dropout=hardware.lora_dropout,
                                target_modules=tuple(hardware.lora_target or ()), four_bit=hardware.qlora, merge=hardware.merge_lora)
        settings = HardwareSettings(device=run.device, dtype=hardware.dtype, activation_checkpointing=hardware.activation_checkpointing,
                                    device_map=hardware.device_map, lora=lora)
        resolve(settings)  # --device cuda without CUDA, fp16 on a CPU, QLoRA without bitsandbytes: refused now
    except (ValueError, HardwareError) as exc:
        raise ConfigError(str(exc)) from exc
    return settings


def trl_args(trl: TrlConfig | None, stage: str, config_class: str) -> dict[str, Any]:
    """The `--trl` keys (and config-file trl keys) that reach one stage's trl config, checked against it."""
    from cai_lang.train.trl_args import TrlArgsError, for_stage, parse_assignments

    try:
        return for_stage(parse_assignments(trl.trl if trl else None), stage, config_class)
    except TrlArgsError as exc:
        raise ConfigError(f"--trl {exc}") from exc


def sft_settings(run: RunConfig, sft: FineTuneConfig, hardware: HardwareConfig | None = None, trl: TrlConfig | None = None):
    from cai_lang.train.sl.sft import SFTSettings

    try:
        return SFTSettings(
            max_steps=sft.max_steps, num_train_epochs=sft.epochs, batch_size=sft.train_batch_size,
            gradient_accumulation_steps=sft.gradient_accumulation, learning_rate=sft.learning_rate, max_length=sft.max_length,
            seed=run.seed, logging_steps=sft.logging_steps, device="cpu" if run.device == "cpu" else "auto",
            targets=sft.sft_targets, keep_unchanged=sft.sft_unchanged == "keep", hardware=hardware_settings(run, hardware),
            chat_template_kwargs=run.template_kwargs(), report_to=report_to(sft), trl_args=trl_args(trl, "sft", "SFTConfig"),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def rl_training(run: RunConfig, sft: FineTuneConfig, pm: PreferenceConfig, policy: PolicyConfig,
                hardware: HardwareConfig | None = None, trl: TrlConfig | None = None):
    """The RL trainers' settings (`RLTraining`); refuses PPO (not in trl 1.16) and a --reward for offline DPO."""
    from cai_lang.train.rl.pipeline import RLTraining
    from cai_lang.train.rl.policy import PolicyTrainingConfig, ppo_status
    from cai_lang.train.rl.preference import PreferenceTrainingConfig

    if policy.method == "ppo":
        raise ConfigError(ppo_status() or "caic does not drive trl's PPOTrainer yet; use --method rloo or grpo")
    online = " or ".join(ONLINE)
    if policy.reward is not None and policy.method not in ONLINE:
        raise ConfigError(f"--reward chooses the reward of online RL (--method {online}), not of --method {policy.method}")
    if pm.human_preferences is not None and not Path(pm.human_preferences).is_file():
        raise ConfigError(f"cannot read {pm.human_preferences}: no such file")
    if policy.use_vllm and policy.method not in ONLINE:
        raise ConfigError(f"--use-vllm generates the completions of online RL (--method {online})")
    placed = hardware_settings(run, hardware)
    try:
        preference = PreferenceTrainingConfig(
            max_steps=sft.max_steps if pm.pm_max_steps is None else pm.pm_max_steps, num_train_epochs=sft.epochs,
            learning_rate=pm.pm_learning_rate, batch_size=sft.train_batch_size, max_length=sft.max_length,
            eval_fraction=pm.pm_eval_fraction, seed=run.seed, logging_steps=sft.logging_steps,
            hardware=placed, chat_template_kwargs=run.template_kwargs(), report_to=report_to(sft),
            trl_args=trl_args(trl, "preference", "RewardConfig"),
        )
        trainer = PolicyTrainingConfig(
            method=policy.method, max_steps=sft.max_steps if policy.rl_max_steps is None else policy.rl_max_steps,
            num_train_epochs=sft.epochs, learning_rate=policy.rl_learning_rate, batch_size=sft.train_batch_size,
            beta=policy.beta, tie_margin=policy.tie_margin, dpo_labels=policy.dpo_labels, max_length=sft.max_length, num_generations=policy.num_generations,
            max_completion_length=policy.max_completion_length, temperature=run.temperature if run.temperature > 0 else 1.0,
            seed=run.seed, logging_steps=sft.logging_steps, scale_rewards=policy.scale_rewards, use_vllm=policy.use_vllm,
            vllm_mode=policy.vllm_mode, vllm_server_base_url=policy.vllm_server_url, hardware=placed,
            chat_template_kwargs=run.template_kwargs(), report_to=report_to(sft),
            trl_args=trl_args(trl, "policy", method_entry(policy.method).config),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return RLTraining(
        method=policy.method, reward=policy.reward or "preference-model",
        human_preferences=Path(pm.human_preferences) if pm.human_preferences is not None else None,
        preference_base=pm.preference_base, preference=preference, policy=trainer, preference_model=pm.preference_model,
    )


def check_train_config(config: TrainConfig) -> None:
    """Every setting `caic train` will need, built once up front so a bad value fails before anything slow."""
    from cai_lang.train.hub import HubError, check_push

    try:
        check_push(config.hub.push_to_hub)
    except HubError as exc:
        raise ConfigError(str(exc)) from exc
    sl_step(config.run, config.sl)
    sft = sft_settings(config.run, config.sft, config.hardware, config.trl)
    training = None
    if config.uses_rl:
        rl_step(config.run, config.labels)
        training = rl_training(config.run, config.sft, config.preference, config.policy, config.hardware, config.trl)
    check_trl_values(config.run.output, sft if config.phase != "rl" else None, training)


def check_trl_values(output: Path, sft, training) -> None:
    """Build each trainer's trl config now (trl checks the values: `--trl lr_scheduler_type=cosin` fails
    here, not after the data is generated); nothing is written."""
    from cai_lang.train.hardware import resolve
    from cai_lang.train.trl_args import TrlArgsError

    try:
        if sft is not None:
            from cai_lang.train.sl.sft import sft_config

            sft_config(sft, output / "sl_model", "messages")
        if training is not None:
            from cai_lang.train.rl.policy import policy_trl_config

            if training.preference_model == "always" or training.needs_preference_model:
                training.preference.trl_config("RewardConfig", output / "preference_model", resolve(training.preference.hardware))
            from dataclasses import replace

            labeller = training.reward == "labeller"  # a reward function: GRPO's default scaling differs
            policy_trl_config(replace(training.policy, method=training.method, output_dir=str(output / "rl_policy")),
                              reward=(lambda *args, **kwargs: []) if labeller else str(output / "preference_model"))
    except TrlArgsError as exc:
        raise ConfigError(f"--trl: {exc}") from exc
