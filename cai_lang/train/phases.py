"""`caic train`: the one place that chains the phases, SL-CAI → RL-CAI.

`run_phase(config)` opens the run folder once (`Run.open`) and runs the
phase asked for:

- `sl`: SL data, then the fine-tune (`cai_lang.train.sl.pipeline`);
- `rl`: pairs and labels, the preference model, the policy, from --model
  (`cai_lang.train.rl.pipeline`);
- `all`: the SL phase, then the RL phase with the SL model as the policy,
  in one command entry of run.json and on one compiled bundle.

Each phase returns its typed result; `TrainResult` holds them, and the run
as it ends, for the CLI, which then writes the report page
(`cai_lang.report.training.write_report`; train/ never imports report/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cai_lang.train.config import TrainConfig
from cai_lang.train.hardware import full_model, release
from cai_lang.train.rl.pipeline import RLPhaseResult, human_rows, train_rl
from cai_lang.train.run.model_specs import PipelineError
from cai_lang.train.run.session import QuietReporter, Reporter, Run, process_rank
from cai_lang.train.settings import rl_step, rl_training, sft_settings, sl_step
from cai_lang.train.sl.pipeline import SLPhaseResult, train_sl


@dataclass
class TrainResult:
    """What one `caic train` did: the phases that ran, and the report page (None if it was not written)."""

    sl: SLPhaseResult | None = None
    rl: RLPhaseResult | None = None
    report: Path | None = None
    run: Run | None = None
    main_process: bool = True
    hub: str | None = None  # the commit URL of --push-to-hub


def _sl(run: Run, config: TrainConfig, reporter: Reporter) -> TrainResult:
    return TrainResult(sl=train_sl(run, sl_step(config.run, config.sl), sft_settings(config.run, config.sft, config.hardware, config.trl), reporter,
                                   data_from=config.data))


def _rl(run: Run, config: TrainConfig, reporter: Reporter, *, policy: str | None = None, start: bool = True) -> RLPhaseResult:
    training = rl_training(config.run, config.sft, config.preference, config.policy, config.hardware, config.trl)
    return train_rl(run, rl_step(config.run, config.labels, model=policy), training, reporter, preference_base=config.run.model, start=start,
                    data_from=config.data if policy is None else None)


def _all(run: Run, config: TrainConfig, reporter: Reporter) -> TrainResult:
    if config.data is not None:
        raise PipelineError("--data trains on one phase's data: use it with --phase sl or --phase rl")
    if process_rank()[1] > 1:
        raise PipelineError("--phase all runs in one process; start it without `accelerate launch` (only --phase sl trains in several)")
    # Every setting and the human-preference file are checked before the SL phase spends any time.
    rl_step(config.run, config.labels)
    human_rows(rl_training(config.run, config.sft, config.preference, config.policy, config.hardware, config.trl).human_preferences)
    sl = train_sl(run, sl_step(config.run, config.sl), sft_settings(config.run, config.sft, config.hardware, config.trl), reporter, finish=False)
    release()  # nothing of the SL phase stays in memory for the RL phase
    # A LoRA SL model saved without --merge-lora is an adapter: the RL phase reads the base with it merged in.
    return TrainResult(sl=sl, rl=_rl(run, config, reporter, policy=full_model(run.layout.sl_model), start=False))


PHASES: dict[str, Callable[[Run, TrainConfig, Reporter], TrainResult]] = {
    "sl": _sl,
    "rl": lambda run, config, reporter: TrainResult(rl=_rl(run, config, reporter)),
    "all": _all,
}


def run_phase(config: TrainConfig, reporter: Reporter | None = None) -> TrainResult:
    """Run `config.phase` of `caic train` in `config.run.output`; `result.run` is the run as it ends."""
    if config.phase not in PHASES:
        raise PipelineError(f"unknown phase {config.phase!r}; choose one of {', '.join(PHASES)}")
    reporter = reporter or QuietReporter()
    run = Run.open(config.run.output)
    if process_rank()[0] == 0:
        from cai_lang.train.config_file import write_effective_config

        write_effective_config(run, config)  # config.yaml: the whole run, repeatable with --config
        run.save()
    result = PHASES[config.phase](run, config, reporter)
    result.run, result.main_process = run, process_rank()[0] == 0
    return result
