"""`caic train`: the one place that chains the phases, SL-CAI → RL-CAI, and ends with the run's report.

`run_phase(config)` opens the run folder once (`Run.open`), runs the phase
asked for and writes `DIR/report.html`:

- `sl`: SL data, then the fine-tune (`cai_lang.train.sl.pipeline`);
- `rl`: pairs and labels, the preference model, the policy, from --model
  (`cai_lang.train.rl.pipeline`);
- `all`: the SL phase, then the RL phase with the SL model as the policy,
  in one command entry of run.json and on one compiled bundle.

Each phase returns its typed result; `TrainResult` holds them for the CLI.
A report that fails is a warning, not a failed run: the models are saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cai_lang.train.config import TrainConfig
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


def _sl(run: Run, config: TrainConfig, reporter: Reporter) -> TrainResult:
    return TrainResult(sl=train_sl(run, sl_step(config.run, config.sl), sft_settings(config.run, config.sft), reporter))


def _rl(run: Run, config: TrainConfig, reporter: Reporter, *, policy: str | None = None, start: bool = True) -> RLPhaseResult:
    training = rl_training(config.run, config.sft, config.preference, config.policy)
    return train_rl(run, rl_step(config.run, config.labels, model=policy), training, reporter, preference_base=config.run.model, start=start)


def _all(run: Run, config: TrainConfig, reporter: Reporter) -> TrainResult:
    if process_rank()[1] > 1:
        raise PipelineError("--phase all runs in one process; start it without `accelerate launch` (only --phase sl trains in several)")
    # Every setting and the human-preference file are checked before the SL phase spends any time.
    rl_step(config.run, config.labels)
    human_rows(rl_training(config.run, config.sft, config.preference, config.policy).human_preferences)
    sl = train_sl(run, sl_step(config.run, config.sl), sft_settings(config.run, config.sft), reporter, finish=False)
    return TrainResult(sl=sl, rl=_rl(run, config, reporter, policy=str(run.layout.sl_model), start=False))


PHASES: dict[str, Callable[[Run, TrainConfig, Reporter], TrainResult]] = {
    "sl": _sl,
    "rl": lambda run, config, reporter: TrainResult(rl=_rl(run, config, reporter)),
    "all": _all,
}


def run_phase(config: TrainConfig, reporter: Reporter | None = None) -> TrainResult:
    """Run `config.phase` of `caic train` in `config.run.output`, then write the run's report."""
    if config.phase not in PHASES:
        raise PipelineError(f"unknown phase {config.phase!r}; choose one of {', '.join(PHASES)}")
    reporter = reporter or QuietReporter()
    run = Run.open(config.run.output)
    result = PHASES[config.phase](run, config, reporter)
    if process_rank()[0] == 0:
        result.report = write_report(run, reporter)
    return result


def write_report(run: Run, reporter: Reporter | None = None) -> Path | None:
    """The run's training page (`cai_lang.report.html`), registered in run.json as `training_report`.

    A report that fails is a warning, not a failed run: the models are saved already.
    """
    from cai_lang.report.html import write_training_report
    from cai_lang.train.run.layout import REPORT_PLOTS

    reporter = reporter or QuietReporter()
    target = run.record.page("training")
    try:
        path = Path(write_training_report(run.folder, run.record, target))
    except Exception as exc:  # noqa: BLE001 - whatever the report does wrong, the trained models stand
        reporter.phase(f"warning: {target.name} was not written: {type(exc).__name__}: {exc}")
        return None
    run.record.add_output("training_report", path, "report", plots=REPORT_PLOTS)
    try:
        run.save()
    except OSError:
        pass  # the page is written; a run.json that cannot be updated should not fail the run
    reporter.phase(f"report: {path}")
    return path
