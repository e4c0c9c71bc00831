"""`caic` commands for the train side of the tool; registered on the app by `cai_lang.cli.app`.

`tiny-model` builds a random test model, `generate sl` writes SL-CAI data
and `generate rl` RL-CAI preference data into a run folder, and `train
--phase sl|rl|all` generates and then trains (SFT; preference model and
policy; or both, the RL phase starting from the SL model). Bad input (a
missing file, a model that cannot be opened offline, a server where weights
are needed, a run folder that clashes with the run asked for) exits 2 with
one line on stderr; a constitution with errors exits 1 with its
diagnostics, as `caic compile` does. Heavy imports stay inside the command
bodies so that `caic check` starts fast; the options are declared once, in
`cai_lang.train.config`, and the phases are `cai_lang.train.phases`.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import typer

from cai_lang.cli.boundary import guarded
from cai_lang.cli.common import fail as _fail
from cai_lang.cli.common import require_train_extra
from cai_lang.cli.config_option import with_config_file
from cai_lang.cli.help_words import WordsGroup
from cai_lang.cli.options import build, from_configs
from cai_lang.errors import describe_os_error
from cai_lang.train.config import (
    GENERATE_RL,
    GENERATE_SL,
    TRAIN,
    FineTuneConfig,
    HardwareConfig,
    HubConfig,
    LabelConfig,
    PolicyConfig,
    PreferenceConfig,
    RunConfig,
    SLConfig,
    TrainConfig,
    TrlConfig,
)

generate_app = typer.Typer(
    name="generate",
    help="Generate training data from a constitution into a run folder.",
    no_args_is_help=True,
    add_completion=False,
    cls=WordsGroup,
)


class TinySize(str, enum.Enum):
    tiny = "tiny"
    m10 = "10m"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `caic` app."""
    app.command("tiny-model")(tiny_model)
    app.add_typer(generate_app, name="generate")
    generate_app.command("sl")(with_config_file(generate_sl, GENERATE_SL))
    generate_app.command("rl")(with_config_file(generate_rl, GENERATE_RL))
    app.command("train")(with_config_file(train, TRAIN))


def tiny_model(
    out_dir: Path = typer.Argument(..., help="Folder to write the model into.", show_default=False),
    size: TinySize = typer.Option(TinySize.tiny, "--size", help="`tiny` (~0.25 M parameters) or `10m` (~10 M)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
) -> None:
    """Build a small random causal LM with no download, to run the pipeline on a CPU (its text is noise)."""
    require_train_extra("tiny-model")
    from cai_lang.engine.tiny import build_tiny_model

    try:
        folder = build_tiny_model(out_dir, size=size.value, seed=seed)
    except OSError as exc:
        raise _fail(describe_os_error(exc, "write", fallback=out_dir))
    typer.echo(f"wrote a random {size.value} model to {folder} (weights are random: for pipeline tests only)")


# ---------------------------------------------------------------- generate


@from_configs(*GENERATE_SL)
def generate_sl(values: dict) -> None:
    """SL-CAI data: sample responses to red-team prompts, then critique → revision rounds per the constitution."""
    from cai_lang.train.run.session import Run
    from cai_lang.train.settings import sl_step
    from cai_lang.train.sl.pipeline import generate_sl_data

    run, sl = build(RunConfig, values, argv=list(sys.argv)), build(SLConfig, values)
    require_train_extra("generate sl", (run.model, sl.critic_model))
    result = _run(lambda reporter: generate_sl_data(Run.open(run.output), sl_step(run, sl), reporter))
    typer.echo(f"{result.data_path}: {result.rows} rows ({result.written_now} written now), bundle sha256 {result.content_hash[:16]}")


@from_configs(*GENERATE_RL)
def generate_rl(values: dict) -> None:
    """RL-CAI preference data: two responses per prompt from the policy, labelled by the feedback model(s) per the constitution."""
    from cai_lang.train.rl.pipeline import generate_rl_data
    from cai_lang.train.run.session import Run
    from cai_lang.train.settings import rl_step

    run, labels = build(RunConfig, values, argv=list(sys.argv)), build(LabelConfig, values)
    require_train_extra("generate rl", (run.model, *(labels.feedback_model or ())))
    result = _run(lambda reporter: generate_rl_data(Run.open(run.output), rl_step(run, labels), reporter))
    spread = result.summary.get("mean_distance_from_half")
    typer.echo(
        f"{result.labels_path}: {result.labels} labelled pairs ({result.written_now} written now)"
        + (f", mean |p - 0.5| {spread:.3f}" if spread is not None else "")
        + f", bundle sha256 {result.content_hash[:16]}"
    )


# ---------------------------------------------------------------- train


@from_configs(*TRAIN)
def train(values: dict) -> None:
    """Train from a constitution: `--phase sl` (SL-CAI fine-tune), `rl` (preference model and policy) or `all` (both)."""
    require_train_extra("train")
    from cai_lang.report.training import write_report
    from cai_lang.train.phases import run_phase
    from cai_lang.train.settings import check_train_config

    config = TrainConfig(
        run=build(RunConfig, values, argv=list(sys.argv)), phase=values["phase"], data=values.get("data"), sl=build(SLConfig, values),
        labels=build(LabelConfig, values), sft=build(FineTuneConfig, values), preference=build(PreferenceConfig, values),
        policy=build(PolicyConfig, values), hardware=build(HardwareConfig, values), hub=build(HubConfig, values),
        trl=build(TrlConfig, values),
    )

    def phase(reporter):
        check_train_config(config)  # every setting, before anything slow
        result = run_phase(config, reporter)
        if result.main_process:
            result.report = write_report(result.run, reporter)
            if config.hub.push_to_hub:
                from cai_lang.train.hub import HubError, push_final_model

                try:
                    result.hub = push_final_model(result.run, config.hub, result, reporter)
                except HubError as exc:
                    reporter.stop()
                    raise _fail(f"{exc} (the trained models are in {result.run.folder})")
        return result

    _say_trained(_run(phase))


def _say_trained(result) -> None:
    sl = result.sl
    if sl is not None and sl.sft is not None:
        sft = sl.sft
        typer.echo(f"{sft.model_dir}: fine-tuned {sft.steps} steps on {sft.rows} rows (final loss {sft.final_loss:.4g})")
    elif sl is not None:
        typer.echo(f"{sl.model_dir}: kept (finished before)")
    rl = result.rl
    if rl is not None:
        typer.echo(f"{rl.data.labels_path}: {rl.data.labels} labelled pairs")
        if rl.preference is not None:
            accuracy = "n/a" if rl.preference.heldout_accuracy is None else f"{rl.preference.heldout_accuracy:.2f}"
            typer.echo(f"{rl.preference.output_dir}: preference model, {rl.preference.steps} steps, held-out pairwise accuracy {accuracy} on {rl.preference.heldout_rows} pairs")
        if rl.policy is not None:
            typer.echo(f"{rl.policy.output_dir}: policy, {rl.policy.method.upper()} {rl.policy.steps} steps")
    if result.report:
        typer.echo(f"{result.report}: report")
    if result.hub:
        typer.echo(f"pushed to the Hub: {result.hub}")


def _run(step):
    """Run a pipeline step with a progress reporter, inside the commands' one error boundary."""
    from cai_lang.cli.progress import ProgressReporter
    from cai_lang.train.progress import reporting

    reporter = ProgressReporter()

    def reported():
        with reporting(reporter):  # the trainers' steps go to the same display
            return step(reporter)

    return guarded(reported, on_error=reporter.stop)
