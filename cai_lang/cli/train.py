"""`caic` commands for the train side of the tool; registered on the app by `cai_lang.cli.app`.

`tiny-model` builds a random test model, `generate sl` writes SL-CAI data
and `generate rl` RL-CAI preference data into a run folder, and `train
--phase sl|rl|all` generates and then trains (SFT; preference model and
policy; or both, the RL phase starting from the SL model). Bad input (a
missing file, a model that cannot be opened offline, a server where weights
are needed, a run folder that clashes with the run asked for) exits 2 with
one line on stderr; a constitution with errors exits 1 with its
diagnostics, as `caic compile` does. Heavy imports stay inside the command
bodies so that `caic check` starts fast; the phases come from
`cai_lang.train.pipeline.PHASES`.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional, Tuple

import typer

from cai_lang.cli.common import HAS_ERRORS, Dialect, Split, quiet_libraries
from cai_lang.cli.common import fail as _fail

generate_app = typer.Typer(
    name="generate",
    help="Generate training data from a constitution into a run folder.",
    no_args_is_help=True,
    add_completion=False,
)


class TinySize(str, enum.Enum):
    tiny = "tiny"
    m10 = "10m"


class Phase(str, enum.Enum):
    sl = "sl"
    rl = "rl"
    all = "all"


class Mode(str, enum.Enum):
    priority = "priority"
    sample = "sample"


class Ensemble(str, enum.Enum):
    mean = "mean"
    vote = "vote"


class Method(str, enum.Enum):
    dpo = "dpo"
    rloo = "rloo"
    grpo = "grpo"
    ppo = "ppo"


class Reward(str, enum.Enum):
    preference_model = "preference-model"
    labeller = "labeller"


DATA, SL, RL, SERVER, SFT, PM, POLICY = "Run and data", "SL-CAI", "RL-CAI labels", "Servers", "Fine-tuning (SL)", "Preference model", "Policy (RL)"

# Options shared by the commands, declared once so they cannot drift.
FILE_ARG = typer.Argument(..., help="The `.const` file (or a compiled bundle.json / bundle folder).", show_default=False)
MODEL = typer.Option(..., "--model", "-m", help="Policy model: a folder saved with save_pretrained, a Hub id, or (generate only) a server URL.", rich_help_panel=DATA)
OUTPUT = typer.Option(..., "--output", "-o", help="Run folder: bundle/, data, models, run.json and report.html go here.", rich_help_panel=DATA)
DEPLOYMENT = typer.Option(None, "--deployment", "-d", help="Deployment to compile (default: `default`).", rich_help_panel=DATA)
PROMPTS = typer.Option(None, "--prompts", "-p", help="Red-team prompts: `red_team` (shipped), a .jsonl/.csv file or a datasets folder; repeatable.", rich_help_panel=DATA)
HELPFUL = typer.Option("helpful", "--helpful", help="Helpful prompts to mix in: `helpful` (shipped), a file or folder, or `none`.", rich_help_panel=DATA)
HELPFUL_FRACTION = typer.Option(0.25, "--helpful-fraction", help="Share of the selected prompts that are helpful ones (0 disables).", rich_help_panel=DATA)
SPLIT = typer.Option(Split.train, "--split", help="Which split of the prompt sets to use.", rich_help_panel=DATA)
MAX_PROMPTS = typer.Option(None, "--max-prompts", "-k", help="Use at most this many prompts (a seeded sample).", rich_help_panel=DATA)
SEED = typer.Option(0, "--seed", "-s", help="Seeds prompt selection, principle draws, sampling and training.", rich_help_panel=DATA)
MAX_NEW_TOKENS = typer.Option(128, "--max-new-tokens", help="Most tokens per response, critique, revision and reasoning.", rich_help_panel=DATA)
TEMPERATURE = typer.Option(1.0, "--temperature", help="Sampling temperature; 0 decodes greedily (refused for RL pairs).", rich_help_panel=DATA)
TOP_P = typer.Option(1.0, "--top-p", help="Nucleus sampling mass.", rich_help_panel=DATA)
DIALECT = typer.Option(Dialect.chat, "--dialect", help="`chat` for instruct models, `text` for base models.", rich_help_panel=DATA)
BATCH_SIZE = typer.Option(32, "--batch-size", help="Prompts per generate batch.", rich_help_panel=DATA)
CHUNK_SIZE = typer.Option(32, "--chunk-size", help="Prompts per chunk; rows are written as each chunk finishes.", rich_help_panel=DATA)
DEVICE = typer.Option("auto", "--device", help="`auto`, `cpu` or `cuda`.", rich_help_panel=DATA)
RESUME = typer.Option(False, "--resume", help="Continue an interrupted run in this folder; finished steps are kept.", rich_help_panel=DATA)
SERVED_MODEL = typer.Option(None, "--served-model", help="The model name an http:// --model serves (a spec URL#NAME names its own).", rich_help_panel=SERVER)
API_KEY_ENV = typer.Option(None, "--api-key-env", help="Environment variable holding the server's API key (the key is never recorded).", rich_help_panel=SERVER)
REQUEST_TIMEOUT = typer.Option(120.0, "--request-timeout", help="Seconds a whole server request may take, reply included.", rich_help_panel=SERVER)
MAX_RETRIES = typer.Option(4, "--max-retries", help="Times a failed server request is tried again (connection errors, timeouts, 429, 5xx, cut-off replies).", rich_help_panel=SERVER)
CRITIC = typer.Option(None, "--critic-model", help="A separate model that writes the critiques (default: the policy).", rich_help_panel=SL)
ROUNDS = typer.Option(4, "--rounds", "-n", help="Most critique → revision rounds per red-team prompt.", rich_help_panel=SL)
FEEDBACK = typer.Option(None, "--feedback-model", "-f", help="Model that labels the pairs (default: the policy); repeat for an ensemble.", rich_help_panel=RL)
ENSEMBLE = typer.Option(Ensemble.mean, "--ensemble", help="Several feedback models: `mean` probability or soft majority `vote`.", rich_help_panel=RL)
MODE = typer.Option(Mode.priority, "--mode", help="`priority`: tiers decide; `sample`: one weighted principle per pair (the paper).", rich_help_panel=RL)
COT = typer.Option(False, "--cot", help="The feedback model reasons before answering; labels are clamped to --clamp.", rich_help_panel=RL)
CLAMP = typer.Option((0.4, 0.6), "--clamp", help="With --cot: the band labels are clamped into.", rich_help_panel=RL)
MARGIN = typer.Option(0.05, "--margin", help="Priority mode: a tier decides when its verdict is further than this from 0.5.", rich_help_panel=RL)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `caic` app."""
    app.command("tiny-model")(tiny_model)
    app.add_typer(generate_app, name="generate")
    generate_app.command("sl")(generate_sl)
    generate_app.command("rl")(generate_rl)
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


# ---------------------------------------------------------------- options into pipeline settings


def _common(a: SimpleNamespace):
    """The prompt selection and server settings every command shares; bad values exit 2."""
    from cai_lang.train.pipeline import ServerSettings
    from cai_lang.train.run.prompts import PromptSelection, PromptSetError

    if a.batch_size < 1:
        raise _fail("--batch-size must be at least 1")
    if not a.file.exists():
        raise _fail(f"cannot read {a.file}: no such file or folder")
    try:
        selection = PromptSelection(
            sources=tuple(a.prompts or ("red_team",)),
            helpful=None if a.helpful.lower() == "none" else a.helpful,
            helpful_fraction=a.helpful_fraction,
            split=a.split.value,
            max_prompts=a.max_prompts,
            seed=a.seed,
        )
    except (PromptSetError, ValueError) as exc:
        raise _fail(str(exc))
    if a.request_timeout <= 0:
        raise _fail("--request-timeout must be more than 0 seconds")
    if a.max_retries < 0:
        raise _fail("--max-retries must be 0 or more")
    server = ServerSettings(
        served_model=a.served_model, api_key_env=a.api_key_env, request_timeout=a.request_timeout, max_retries=a.max_retries
    )
    return selection, server


def _sl_options(a: SimpleNamespace):
    from cai_lang.train.pipeline import SLOptions
    from cai_lang.train.sl.generate import SLGenerationConfig

    selection, server = _common(a)
    try:
        generation = SLGenerationConfig(
            rounds=a.rounds, seed=a.seed, max_new_tokens=a.max_new_tokens, temperature=a.temperature, top_p=a.top_p,
            dialect=a.dialect.value, chunk_size=a.chunk_size,
        )
    except ValueError as exc:
        raise _fail(str(exc))
    return SLOptions(
        source=a.file, model=a.model, output=a.output, deployment=a.deployment, critic_model=a.critic_model,
        prompts=selection, generation=generation, batch_size=a.batch_size, device=a.device, resume=a.resume,
        argv=list(sys.argv), server=server,
    )


def _rl_options(a: SimpleNamespace):
    from cai_lang.train.rl.generate import RLGenerationConfig
    from cai_lang.train.rl.pipeline import RLOptions

    selection, server = _common(a)
    try:
        generation = RLGenerationConfig(
            seed=a.seed, max_new_tokens=a.max_new_tokens, temperature=a.temperature, top_p=a.top_p, dialect=a.dialect.value,
            mode=a.mode.value, margin=a.margin, cot=a.cot, clamp=tuple(a.clamp), ensemble=a.ensemble.value, chunk_size=a.chunk_size,
        )
    except ValueError as exc:
        raise _fail(str(exc))
    return RLOptions(
        source=a.file, model=a.model, output=a.output, deployment=a.deployment, feedback_models=tuple(a.feedback_model or ()),
        prompts=selection, generation=generation, batch_size=a.batch_size, device=a.device, resume=a.resume,
        argv=list(sys.argv), server=server,
    )


# ---------------------------------------------------------------- generate


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
    served_model: Optional[str] = SERVED_MODEL,
    api_key_env: Optional[str] = API_KEY_ENV,
    request_timeout: float = REQUEST_TIMEOUT,
    max_retries: int = MAX_RETRIES,
) -> None:
    """SL-CAI data: sample responses to red-team prompts, then critique → revision rounds per the constitution."""
    from cai_lang.train.pipeline import generate_sl_data

    options = _sl_options(SimpleNamespace(**locals()))
    result = _run(lambda reporter: generate_sl_data(options, reporter))
    typer.echo(f"{result.data_path}: {result.rows} rows ({result.written_now} written now), bundle sha256 {result.content_hash[:16]}")


def generate_rl(
    file: Path = FILE_ARG,
    model: str = MODEL,
    output: Path = OUTPUT,
    deployment: Optional[str] = DEPLOYMENT,
    feedback_model: Optional[List[str]] = FEEDBACK,
    ensemble: Ensemble = ENSEMBLE,
    mode: Mode = MODE,
    cot: bool = COT,
    clamp: Tuple[float, float] = CLAMP,
    margin: float = MARGIN,
    prompts: Optional[List[str]] = PROMPTS,
    helpful: str = HELPFUL,
    helpful_fraction: float = HELPFUL_FRACTION,
    split: Split = SPLIT,
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
    served_model: Optional[str] = SERVED_MODEL,
    api_key_env: Optional[str] = API_KEY_ENV,
    request_timeout: float = REQUEST_TIMEOUT,
    max_retries: int = MAX_RETRIES,
) -> None:
    """RL-CAI preference data: two responses per prompt from the policy, labelled by the feedback model(s) per the constitution."""
    from cai_lang.train.rl.pipeline import generate_rl_data

    options = _rl_options(SimpleNamespace(**locals()))
    result = _run(lambda reporter: generate_rl_data(options, reporter))
    spread = result.summary.get("mean_distance_from_half")
    typer.echo(
        f"{result.labels_path}: {result.labels} labelled pairs ({result.written_now} written now)"
        + (f", mean |p - 0.5| {spread:.3f}" if spread is not None else "")
        + f", bundle sha256 {result.content_hash[:16]}"
    )


# ---------------------------------------------------------------- train


def train(
    file: Path = FILE_ARG,
    model: str = MODEL,
    output: Path = OUTPUT,
    phase: Phase = typer.Option(Phase.sl, "--phase", help="`sl` (SL-CAI), `rl` (RL-CAI from --model) or `all` (SL, then RL from the SL model).", rich_help_panel=DATA),
    deployment: Optional[str] = DEPLOYMENT,
    prompts: Optional[List[str]] = PROMPTS,
    helpful: str = HELPFUL,
    helpful_fraction: float = HELPFUL_FRACTION,
    split: Split = SPLIT,
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
    served_model: Optional[str] = SERVED_MODEL,
    api_key_env: Optional[str] = API_KEY_ENV,
    request_timeout: float = REQUEST_TIMEOUT,
    max_retries: int = MAX_RETRIES,
    critic_model: Optional[str] = CRITIC,
    rounds: int = ROUNDS,
    feedback_model: Optional[List[str]] = FEEDBACK,
    ensemble: Ensemble = ENSEMBLE,
    mode: Mode = MODE,
    cot: bool = COT,
    clamp: Tuple[float, float] = CLAMP,
    margin: float = MARGIN,
    max_steps: int = typer.Option(-1, "--max-steps", help="Steps of every trainer unless --pm-max-steps / --rl-max-steps say otherwise; -1 trains for --epochs.", rich_help_panel=SFT),
    epochs: float = typer.Option(1.0, "--epochs", help="Passes over the data when the steps are -1.", rich_help_panel=SFT),
    learning_rate: float = typer.Option(2e-5, "--learning-rate", "--lr", help="SFT peak learning rate.", rich_help_panel=SFT),
    train_batch_size: int = typer.Option(8, "--train-batch-size", help="Rows (or completions, online) per process per step, every trainer.", rich_help_panel=SFT),
    gradient_accumulation: int = typer.Option(1, "--gradient-accumulation", help="SFT steps summed per optimizer update.", rich_help_panel=SFT),
    max_length: int = typer.Option(1024, "--max-length", help="Tokens per training example (the preference model drops longer pairs).", rich_help_panel=SFT),
    logging_steps: int = typer.Option(10, "--logging-steps", help="Log the loss every this many steps, every trainer.", rich_help_panel=SFT),
    preference_base: Optional[str] = typer.Option(None, "--preference-base", help="Model the preference model starts from (default: --model).", rich_help_panel=PM),
    human_preferences: Optional[Path] = typer.Option(None, "--human-preferences", help="JSONL of prompt/chosen/rejected human preferences mixed in (the paper's hybrid).", rich_help_panel=PM),
    pm_max_steps: Optional[int] = typer.Option(None, "--pm-max-steps", help="Preference-model steps (default: --max-steps).", rich_help_panel=PM),
    pm_learning_rate: float = typer.Option(1e-5, "--pm-learning-rate", help="Preference-model peak learning rate.", rich_help_panel=PM),
    pm_eval_fraction: float = typer.Option(0.1, "--pm-eval-fraction", help="Share of pairs held out for pairwise accuracy.", rich_help_panel=PM),
    method: Method = typer.Option(Method.dpo, "--method", help="`dpo` (offline), `rloo` or `grpo` (online); `ppo` is not in trl 1.16.", rich_help_panel=POLICY),
    reward: Optional[Reward] = typer.Option(None, "--reward", help="rloo/grpo reward: the trained `preference-model` (default) or the `labeller` itself.", rich_help_panel=POLICY),
    rl_max_steps: Optional[int] = typer.Option(None, "--rl-max-steps", help="Policy steps (default: --max-steps).", rich_help_panel=POLICY),
    rl_learning_rate: float = typer.Option(1e-6, "--rl-learning-rate", help="Policy peak learning rate.", rich_help_panel=POLICY),
    beta: float = typer.Option(0.1, "--beta", help="KL strength against the starting policy.", rich_help_panel=POLICY),
    tie_margin: float = typer.Option(0.1, "--tie-margin", help="DPO skips pairs whose soft label is this close to 0.5.", rich_help_panel=POLICY),
    num_generations: int = typer.Option(4, "--num-generations", help="rloo/grpo: completions per prompt.", rich_help_panel=POLICY),
    max_completion_length: int = typer.Option(64, "--max-completion-length", help="rloo/grpo: tokens per completion (keep it small on a CPU).", rich_help_panel=POLICY),
) -> None:
    """Train from a constitution: `--phase sl` (SL-CAI fine-tune), `rl` (preference model and policy) or `all` (both)."""
    from cai_lang.train.pipeline import TrainOptions, run_phase

    a = SimpleNamespace(**locals())
    if phase is not Phase.sl and method is Method.ppo:
        from cai_lang.train.rl.policy import ppo_status

        raise _fail(ppo_status() or "caic does not drive trl's PPOTrainer yet; use --method rloo or grpo")
    if reward is not None and method not in (Method.rloo, Method.grpo):
        raise _fail(f"--reward chooses the reward of online RL (--method rloo or grpo), not of --method {method.value}")
    options = TrainOptions(sl=_sl_options(a), sft=_sft_settings(a))
    if phase is not Phase.sl:
        options.rl = _rl_options(a)
        options.rl_training = _rl_training(a)
    result = _run(lambda reporter: run_phase(phase.value, options, reporter))
    _say_trained(result)


def _sft_settings(a: SimpleNamespace):
    from cai_lang.train.sl.sft import SFTSettings

    try:
        return SFTSettings(
            max_steps=a.max_steps, epochs=a.epochs, batch_size=a.train_batch_size,
            gradient_accumulation_steps=a.gradient_accumulation, learning_rate=a.learning_rate, max_length=a.max_length,
            seed=a.seed, logging_steps=a.logging_steps, device="cpu" if a.device == "cpu" else "auto",
        )
    except ValueError as exc:
        raise _fail(str(exc))


def _rl_training(a: SimpleNamespace):
    from cai_lang.train.rl.pipeline import RLTrainSettings
    from cai_lang.train.rl.policy import PolicyTrainingConfig
    from cai_lang.train.rl.preference import PreferenceTrainingConfig

    if a.human_preferences is not None and not a.human_preferences.is_file():
        raise _fail(f"cannot read {a.human_preferences}: no such file")
    try:
        preference = PreferenceTrainingConfig(
            max_steps=a.max_steps if a.pm_max_steps is None else a.pm_max_steps, num_train_epochs=a.epochs,
            learning_rate=a.pm_learning_rate, batch_size=a.train_batch_size, max_length=a.max_length,
            eval_fraction=a.pm_eval_fraction, seed=a.seed, logging_steps=a.logging_steps,
        )
        policy = PolicyTrainingConfig(
            method=a.method.value, max_steps=a.max_steps if a.rl_max_steps is None else a.rl_max_steps, num_train_epochs=a.epochs,
            learning_rate=a.rl_learning_rate, batch_size=a.train_batch_size, beta=a.beta, tie_margin=a.tie_margin,
            max_length=a.max_length, num_generations=a.num_generations, max_completion_length=a.max_completion_length,
            temperature=a.temperature if a.temperature > 0 else 1.0, seed=a.seed, logging_steps=a.logging_steps,
        )
        return RLTrainSettings(
            method=a.method.value, reward=(a.reward or Reward.preference_model).value, human_preferences=a.human_preferences,
            preference_base=a.preference_base, preference=preference, policy=policy,
        )
    except ValueError as exc:
        raise _fail(str(exc))


def _say_trained(result: dict) -> None:
    sft = result.get("sft") or (result.get("sl") or {}).get("sft")
    if sft is not None:
        typer.echo(f"{sft.model_dir}: fine-tuned {sft.steps} steps on {sft.rows} rows (final loss {sft.final_loss:.4g})")
    elif "model_dir" in result or "sl" in result:
        typer.echo(f"{(result.get('sl') or result)['model_dir']}: kept (finished before)")
    data = result.get("data")
    if data is not None and hasattr(data, "labels_path"):
        typer.echo(f"{data.labels_path}: {data.labels} labelled pairs")
    preference = result.get("preference")
    if preference is not None:
        accuracy = "n/a" if preference.heldout_accuracy is None else f"{preference.heldout_accuracy:.2f}"
        typer.echo(f"{preference.output_dir}: preference model, {preference.steps} steps, held-out pairwise accuracy {accuracy}")
    policy = result.get("policy")
    if policy is not None:
        typer.echo(f"{policy.output_dir}: policy, {policy.method.upper()} {policy.steps} steps")
    if result.get("report"):
        typer.echo(f"{result['report']}: report")


def _run(step):
    """Run a pipeline step with a progress reporter, turning expected failures into exit codes."""
    from cai_lang.api import CompileRefused, UnknownDeployment
    from cai_lang.codegen.bundle import BundleError
    from cai_lang.engine import EngineError
    from cai_lang.train.pipeline import PipelineError
    from cai_lang.train.run.folder import RunError
    from cai_lang.train.run.prompts import PromptSetError
    from cai_lang.train.sl.sft import NoTrainingData

    quiet_libraries()
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
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

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
