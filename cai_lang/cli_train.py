"""`caic` commands for the train side of the tool; registered on the app by `cai_lang.cli`.

`tiny-model` builds a random test model, `generate sl` writes SL-CAI data
into a run folder, and `train --phase sl` generates and then fine-tunes.
Bad input (a missing file, a model that cannot be opened offline, a run
folder that clashes with the run asked for) exits 2 with one line on
stderr; a constitution with errors exits 1 with its diagnostics, as
`caic compile` does. Heavy imports stay inside the command bodies so that
`caic check` starts fast; the phase list comes from `cai_lang.train.pipeline`
so that new phases need no new command.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import List, Optional

import typer

USAGE_ERROR = 2
HAS_ERRORS = 1

generate_app = typer.Typer(
    name="generate",
    help="Generate training data from a constitution into a run folder.",
    no_args_is_help=True,
    add_completion=False,
)


class TinySize(str, enum.Enum):
    tiny = "tiny"
    m10 = "10m"


class Dialect(str, enum.Enum):
    chat = "chat"
    text = "text"


class Split(str, enum.Enum):
    train = "train"
    eval = "eval"
    all = "all"


class Phase(str, enum.Enum):
    sl = "sl"
    rl = "rl"
    all = "all"


# Options shared by `generate sl` and `train`, declared once so the two cannot drift.
FILE_ARG = typer.Argument(..., help="The `.const` file (or a compiled bundle.json / bundle folder).", show_default=False)
MODEL = typer.Option(..., "--model", "-m", help="Policy model: a folder saved with save_pretrained, or a Hub id.")
OUTPUT = typer.Option(..., "--output", "-o", help="Run folder: bundle/, sl_data.jsonl, models and run.json go here.")
DEPLOYMENT = typer.Option(None, "--deployment", "-d", help="Deployment to compile (default: `default`).")
CRITIC = typer.Option(None, "--critic-model", help="A separate model that writes the critiques (default: the policy).")
PROMPTS = typer.Option(None, "--prompts", "-p", help="Red-team prompts: `red_team` (shipped), a .jsonl/.csv file or a datasets folder; repeatable.")
HELPFUL = typer.Option("helpful", "--helpful", help="Helpful prompts to mix in: `helpful` (shipped), a file or folder, or `none`.")
HELPFUL_FRACTION = typer.Option(0.25, "--helpful-fraction", help="Share of the selected prompts that are helpful ones (0 disables).")
SPLIT = typer.Option(Split.train, "--split", help="Which split of the prompt sets to use.")
ROUNDS = typer.Option(4, "--rounds", "-n", help="Most critique → revision rounds per red-team prompt.")
MAX_PROMPTS = typer.Option(None, "--max-prompts", "-k", help="Use at most this many prompts (a seeded sample).")
SEED = typer.Option(0, "--seed", "-s", help="Seeds prompt selection, principle draws, sampling and training.")
MAX_NEW_TOKENS = typer.Option(128, "--max-new-tokens", help="Most tokens per response, critique and revision.")
TEMPERATURE = typer.Option(1.0, "--temperature", help="Sampling temperature; 0 decodes greedily.")
TOP_P = typer.Option(1.0, "--top-p", help="Nucleus sampling mass.")
DIALECT = typer.Option(Dialect.chat, "--dialect", help="`chat` for instruct models, `text` for base models.")
BATCH_SIZE = typer.Option(32, "--batch-size", help="Prompts per generate batch.")
CHUNK_SIZE = typer.Option(32, "--chunk-size", help="Prompts per chunk; rows are written as each chunk finishes.")
DEVICE = typer.Option("auto", "--device", help="`auto`, `cpu` or `cuda`.")
RESUME = typer.Option(False, "--resume", help="Continue a run folder whose generation was interrupted.")


def _fail(message: str, code: int = USAGE_ERROR) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `caic` app."""
    app.command("tiny-model")(tiny_model)
    app.add_typer(generate_app, name="generate")
    generate_app.command("sl")(generate_sl)
    app.command("train")(train)


def tiny_model(
    out_dir: Path = typer.Argument(..., help="Folder to write the model into.", show_default=False),
    size: TinySize = typer.Option(TinySize.tiny, "--size", help="`tiny` (~0.25 M parameters) or `10m` (~10 M)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
) -> None:
    """Build a small random causal LM with no download, to run the pipeline on a CPU (its text is noise)."""
    from cai_lang.engine.tiny import build_tiny_model

    try:
        folder = build_tiny_model(out_dir, size=size.value, seed=seed)
    except OSError as exc:
        raise _fail(f"cannot write {getattr(exc, 'filename', None) or out_dir}: {exc.strerror or exc}")
    typer.echo(f"wrote a random {size.value} model to {folder} (weights are random: for pipeline tests only)")


def _options(file, model, output, deployment, critic_model, prompts, helpful, helpful_fraction, split, rounds,
             max_prompts, seed, max_new_tokens, temperature, top_p, dialect, batch_size, chunk_size, device, resume):
    from cai_lang.train.pipeline import SLOptions
    from cai_lang.train.prompts import PromptSelection, PromptSetError
    from cai_lang.train.sl_generate import SLGenerationConfig

    if batch_size < 1:
        raise _fail("--batch-size must be at least 1")
    try:
        selection = PromptSelection(
            sources=tuple(prompts or ("red_team",)),
            helpful=None if helpful.lower() == "none" else helpful,
            helpful_fraction=helpful_fraction,
            split=split.value,
            max_prompts=max_prompts,
            seed=seed,
        )
        generation = SLGenerationConfig(
            rounds=rounds, seed=seed, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
            dialect=dialect.value, chunk_size=chunk_size,
        )
    except (PromptSetError, ValueError) as exc:
        raise _fail(str(exc))
    if not file.exists():
        raise _fail(f"cannot read {file}: no such file or folder")
    return SLOptions(
        source=file, model=model, output=output, deployment=deployment, critic_model=critic_model,
        prompts=selection, generation=generation, batch_size=batch_size, device=device, resume=resume,
        argv=list(sys.argv),
    )


def generate_sl(
    file: Path = FILE_ARG,
    model: str = MODEL,
    output: Path = OUTPUT,
    deployment: Optional[str] = DEPLOYMENT,
    critic_model: Optional[str] = CRITIC,
    prompts: Optional[List[str]] = PROMPTS,
    helpful: str = HELPFUL,
    helpful_fraction: float = HELPFUL_FRACTION,
    split: Split = SPLIT,
    rounds: int = ROUNDS,
    max_prompts: Optional[int] = MAX_PROMPTS,
    seed: int = SEED,
    max_new_tokens: int = MAX_NEW_TOKENS,
    temperature: float = TEMPERATURE,
    top_p: float = TOP_P,
    dialect: Dialect = DIALECT,
    batch_size: int = BATCH_SIZE,
    chunk_size: int = CHUNK_SIZE,
    device: str = DEVICE,
    resume: bool = RESUME,
) -> None:
    """SL-CAI data: sample responses to red-team prompts, then critique → revision rounds per the constitution."""
    from cai_lang.train.pipeline import generate_sl_data

    options = _options(file, model, output, deployment, critic_model, prompts, helpful, helpful_fraction, split,
                       rounds, max_prompts, seed, max_new_tokens, temperature, top_p, dialect, batch_size,
                       chunk_size, device, resume)
    result = _run(lambda reporter: generate_sl_data(options, reporter))
    typer.echo(f"{result.data_path}: {result.rows} rows ({result.written_now} written now), bundle sha256 {result.content_hash[:16]}")


def train(
    file: Path = FILE_ARG,
    model: str = MODEL,
    output: Path = OUTPUT,
    phase: Phase = typer.Option(Phase.sl, "--phase", help="Which stage to run; only `sl` exists so far."),
    deployment: Optional[str] = DEPLOYMENT,
    critic_model: Optional[str] = CRITIC,
    prompts: Optional[List[str]] = PROMPTS,
    helpful: str = HELPFUL,
    helpful_fraction: float = HELPFUL_FRACTION,
    split: Split = SPLIT,
    rounds: int = ROUNDS,
    max_prompts: Optional[int] = MAX_PROMPTS,
    seed: int = SEED,
    max_new_tokens: int = MAX_NEW_TOKENS,
    temperature: float = TEMPERATURE,
    top_p: float = TOP_P,
    dialect: Dialect = DIALECT,
    batch_size: int = BATCH_SIZE,
    chunk_size: int = CHUNK_SIZE,
    device: str = DEVICE,
    resume: bool = RESUME,
    max_steps: int = typer.Option(-1, "--max-steps", help="Fine-tuning steps; -1 trains for --epochs."),
    epochs: float = typer.Option(1.0, "--epochs", help="Passes over the data when --max-steps is -1."),
    learning_rate: float = typer.Option(2e-5, "--learning-rate", "--lr", help="Peak learning rate."),
    train_batch_size: int = typer.Option(8, "--train-batch-size", help="Rows per process per fine-tuning step."),
    gradient_accumulation: int = typer.Option(1, "--gradient-accumulation", help="Steps summed per optimizer update."),
    max_length: int = typer.Option(1024, "--max-length", help="Tokens per training example."),
    logging_steps: int = typer.Option(10, "--logging-steps", help="Log the loss every this many steps."),
) -> None:
    """Train from a constitution: `--phase sl` generates SL-CAI data, then fine-tunes the model on the revisions."""
    from cai_lang.train.pipeline import PHASES, PLANNED_PHASES, run_phase
    from cai_lang.train.sft import SFTSettings

    if phase.value not in PHASES:
        later = " (planned)" if phase.value in PLANNED_PHASES else ""
        raise _fail(f"--phase {phase.value}{later} is not implemented yet; use --phase sl")
    options = _options(file, model, output, deployment, critic_model, prompts, helpful, helpful_fraction, split,
                       rounds, max_prompts, seed, max_new_tokens, temperature, top_p, dialect, batch_size,
                       chunk_size, device, resume)
    try:
        settings = SFTSettings(
            max_steps=max_steps, epochs=epochs, batch_size=train_batch_size,
            gradient_accumulation_steps=gradient_accumulation, learning_rate=learning_rate, max_length=max_length,
            seed=seed, logging_steps=logging_steps, device="cpu" if device == "cpu" else "auto",
        )
    except ValueError as exc:
        raise _fail(str(exc))
    result = _run(lambda reporter: run_phase(phase.value, options, settings, reporter))
    if "sft" in result:
        sft = result["sft"]
        typer.echo(f"{result['model_dir']}: fine-tuned {sft.steps} steps on {sft.rows} rows (final loss {sft.final_loss:.4g})")


def _run(step):
    """Run a pipeline step with a progress reporter, turning expected failures into exit codes."""
    from cai_lang.api import CompileRefused, UnknownDeployment
    from cai_lang.codegen.bundle import BundleError
    from cai_lang.engine import EngineError
    from cai_lang.train.pipeline import PipelineError
    from cai_lang.train.prompts import PromptSetError
    from cai_lang.train.runs import RunError
    from cai_lang.train.sft import NoTrainingData

    reporter = RichReporter()
    try:
        return step(reporter)
    except CompileRefused as refused:
        reporter.stop()
        _print_diagnostics(refused)
        raise typer.Exit(HAS_ERRORS)
    except (PipelineError, RunError, PromptSetError, BundleError, UnknownDeployment, EngineError, NoTrainingData) as exc:
        reporter.stop()
        raise _fail(str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        reporter.stop()
        where = getattr(exc, "filename", None)
        raise _fail(f"cannot read or write {where or 'a file'}: {getattr(exc, 'strerror', None) or exc}")


def _print_diagnostics(refused) -> None:
    from rich.console import Console

    from cai_lang.diagnostics import render

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for diagnostic in refused.result.diagnostics:
        console.print(render.render_text(diagnostic, refused.sources))
    console.print(f"{render.summary_line(refused.result.diagnostics)}: nothing generated", markup=False)


class RichReporter:
    """Progress on stderr: a line per phase, and a bar over prompts when stderr is a terminal."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.progress = None
        self.task = None

    def phase(self, text: str) -> None:
        self.console.print(f"[bold]caic:[/] {text}")

    def start(self, total: int, completed: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("prompts"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=not self.console.is_terminal,
        )
        self.progress.start()
        self.task = self.progress.add_task("prompts", total=total, completed=completed)

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
