"""What `caic generate sl` and `caic train` run, step by step, in a run folder.

The pipeline owns the order of things and their record: check that the
models can be opened (fast, before anything slow), compile the constitution
with `cai_lang.api.compile_file` into `DIR/bundle/` (or take a bundle
already compiled), load the bundle back from disk (the trainer reads
bundles, never `.const` text), generate SL-CAI rows into `DIR/sl_data.jsonl`,
fine-tune into `DIR/sl_model/`, and register each of these, with its kind,
in `DIR/run.json`. The RL steps live in `cai_lang.train.rl.pipeline`; phases
(`sl`, `rl`, `all`) are looked up in `PHASES`. A step that ran to its end is
recorded as completed, so `--resume` skips it; every `caic train` ends by
writing `DIR/report.html` when `cai_lang.report.html` is installed.

A model is a folder, a Hub id, or (for generation only) an OpenAI-compatible
server, `http://host/v1` with the name it serves (`ServerSettings`).

Under `accelerate launch` with several processes, process 0 compiles and
generates while the others wait for it (a marker file tagged with this
launch), then every process trains. Everything here that is heavy is
imported inside functions.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from cai_lang.train.run.folder import RowWriter, RunError, RunRecord, read_rows
from cai_lang.train.run.model_specs import (  # noqa: F401 - re-exported: the pipeline's vocabulary
    PipelineError,
    ServerSettings,
    check_model,
    is_server,
    model_identity,
    open_backend,
    server_spec,
)
from cai_lang.train.run.prompts import PromptSelection, select_prompts_with_summary
from cai_lang.train.sl.generate import SLGenerationConfig

if TYPE_CHECKING:
    from cai_lang.train.rl.pipeline import RLOptions, RLTrainSettings
    from cai_lang.train.sl.sft import SFTSettings

BUNDLE_DIR = "bundle"
SL_DATA = "sl_data.jsonl"
SL_MODEL = "sl_model"
REPORT = "report.html"
_MARKER = ".sl-data-ready"


class Reporter(Protocol):
    def phase(self, text: str) -> None: ...
    def start(self, total: int, completed: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def stop(self) -> None: ...


class QuietReporter:
    """A reporter that says nothing (tests, library use)."""

    def phase(self, text: str) -> None:
        pass

    def start(self, total: int, completed: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class SLOptions:
    """Everything SL data generation needs besides the bundle."""

    source: Path
    model: str
    output: Path
    deployment: str | None = None
    critic_model: str | None = None
    prompts: PromptSelection = field(default_factory=PromptSelection)
    generation: SLGenerationConfig = field(default_factory=SLGenerationConfig)
    batch_size: int = 32
    device: str = "auto"
    resume: bool = False
    argv: list[str] | None = None
    server: "ServerSettings" = field(default_factory=lambda: ServerSettings())


@dataclass
class SLDataResult:
    data_path: Path
    rows: int
    written_now: int
    bundle_path: Path
    content_hash: str
    stats: Any = None


# ---------------------------------------------------------------- bundle


def prepare_bundle(source: Path, deployment: str | None, run_dir: Path):
    """Compile `source` (or read it, if it is a compiled bundle) into `run_dir/bundle/`, then load it from there."""
    from cai_lang.codegen.bundle import BUNDLE_FILE, BundleError, load_bundle
    from cai_lang.codegen.compiler import write_bundle

    if source.is_dir() or source.suffix == ".json":
        try:
            bundle = load_bundle(source)
        except BundleError as exc:
            raise PipelineError(str(exc)) from exc
        if deployment is not None and deployment != bundle.deployment.name:
            raise PipelineError(f"{source} is the bundle of deployment `{bundle.deployment.name}`, not `{deployment}`")
    else:
        from cai_lang.api import compile_file

        bundle = compile_file(source, deployment=deployment)[0]
    record = RunRecord.open(run_dir)
    previous = record.get("content_hash")
    if previous is not None and previous != bundle.content_hash:
        raise RunError(
            f"{run_dir} was made with bundle {previous[:16]}…, and {source} now compiles to "
            f"{bundle.content_hash[:16]}…; use a new output folder"
        )
    write_bundle(bundle, run_dir / BUNDLE_DIR)
    path = run_dir / BUNDLE_DIR / bundle.deployment.name / BUNDLE_FILE
    return load_bundle(path), path


# ---------------------------------------------------------------- SL data


def _sl_settings(options: SLOptions, bundle) -> dict[str, Any]:
    return {
        "content_hash": bundle.content_hash,
        "deployment": bundle.deployment.name,
        "model": model_identity(options.model, options.server),
        "critic_model": model_identity(options.critic_model, options.server) if options.critic_model else None,
        "prompts": {**asdict(options.prompts), "sources": list(options.prompts.sources)},
        "generation": options.generation.resume_settings(),
    }


def has_rows(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def open_generation_run(
    options,
    *,
    step: str,
    other_models: list[str],
    outputs: list[tuple[str, Path, str]],
    settings_of: Callable[[Any, Any], dict],
    roles_of: Callable[[dict], dict],
    reporter: Reporter,
    start: bool = True,
):
    """What every data-generation step does before its first row, SL and RL alike.

    Fails fast on a model that cannot be opened and on a run folder that
    already holds rows without `--resume`; compiles the constitution into the
    run folder; refuses to resume with other settings; selects the prompts;
    and records the command, bundle, models, settings and (still incomplete)
    outputs in run.json. Returns (bundle, bundle path, record, prompt records, settings).
    """
    run_dir = options.output
    check_model(options.model, options.server)
    for spec in other_models:
        check_model(spec, options.server)
    if not options.resume:
        for _, path, _ in outputs:
            if has_rows(path):
                raise RunError(f"{path} already holds rows; pass --resume to continue that run, or choose another -o")
    run_dir.mkdir(parents=True, exist_ok=True)
    reporter.phase("compiling the constitution")
    bundle, bundle_path = prepare_bundle(options.source, options.deployment, run_dir)
    record = RunRecord.open(run_dir)
    settings = settings_of(options, bundle)
    if options.resume:
        record.check_same(step, settings)
    records, summary = select_prompts_with_summary(options.prompts)
    reporter.phase("\n".join(summary))
    if start:
        record.start_command(options.argv)
    record_bundle(record, bundle, bundle_path, options.source, options.generation.seed)
    record.set("models", {**record.get("models", {}), **roles_of(settings)})
    record.set(step, settings)
    for name, path, kind in outputs:
        record.add_output(name, path, kind, rows=0, complete=False)
    record.save()
    return bundle, bundle_path, record, records, settings


def generate_sl_data(options: SLOptions, reporter: Reporter | None = None, *, finish: bool = True) -> SLDataResult:
    """Compile, then write (or, with `resume`, complete) `DIR/sl_data.jsonl`, recording it in run.json.

    Starts this invocation's entry in run.json; `finish=False` leaves it open
    for the steps that follow (fine-tuning).
    """
    from cai_lang.train.sl.generate import generate_sl

    reporter = reporter or QuietReporter()
    data_path = options.output / SL_DATA
    bundle, bundle_path, record, records, settings = open_generation_run(
        options,
        step="sl_generation",
        other_models=[options.critic_model] if options.critic_model else [],
        outputs=[("sl_data", data_path, "sl_data")],
        settings_of=_sl_settings,
        roles_of=lambda s: {"policy": s["model"], "critic": s["critic_model"] or s["model"]},
        reporter=reporter,
    )

    with RowWriter(data_path) as writer:
        missing = [r for r in records if r.id not in writer]
        stats = None
        reporter.start(len(records), len(records) - len(missing))
        if missing:
            reporter.phase(f"generating SL-CAI data: {len(missing)} prompts, up to {options.generation.rounds} rounds")
            policy, critic = _open_backends(options)
            try:
                stats = generate_sl(
                    records, policy=policy, critic=critic, bundle=bundle, config=options.generation, writer=writer,
                    on_rows=reporter.advance, model_id=settings["model"],
                    critic_model_id=settings["critic_model"] or settings["model"],
                )
            finally:
                policy.close()
                if critic is not None:
                    critic.close()
        reporter.stop()
        total = len(writer)
    long_prompts = report_long_prompts(stats, options.generation.long_prompts, reporter)
    record.add_output("sl_data", data_path, "sl_data", rows=total, complete=True, format="jsonl, one row per prompt; `messages` in trl's conversational format")
    record.add_step("sl-generate", rows=total, written=stats.written if stats else 0, resumed=options.resume, long_prompts=long_prompts)
    if finish:
        record.finish_command()
    record.save()
    return SLDataResult(data_path, total, stats.written if stats else 0, bundle_path, bundle.content_hash, stats)


def report_long_prompts(stats, action: str, reporter: Reporter) -> dict[str, Any] | None:
    """Say which prompts were over the policy's context and what was done; the same, as run.json records it."""
    from cai_lang.train.run.fit import describe

    if stats is None:
        return None
    for line in describe(stats.oversize, stats.lengths_checked, "long prompts"):
        reporter.phase(line)
    return {"action": action, "checked": stats.lengths_checked, "prompts": [e.to_dict() for e in stats.oversize]}


def record_bundle(record: RunRecord, bundle, bundle_path: Path, source: Path, seed: int) -> None:
    """The facts every command notes about its run: seed, bundle, constitution, deployment."""
    record.set("seed", seed)
    record.set("content_hash", bundle.content_hash)
    record.set("constitution", {"name": bundle.constitution.name, "version": bundle.constitution.version, "source": str(source)})
    record.set("deployment", bundle.deployment.name)
    record.add_output("bundle", bundle_path, "bundle", content_hash=bundle.content_hash)


def _open_backends(options: SLOptions):
    policy = open_backend(options.model, options.server, device=options.device, batch_size=options.batch_size)
    critic = None
    if options.critic_model and model_identity(options.critic_model, options.server) != model_identity(options.model, options.server):
        critic = open_backend(options.critic_model, options.server, device=options.device, batch_size=options.batch_size)
    return policy, critic


# ---------------------------------------------------------------- SL training


def data_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = Counter(r.get("kind") for r in rows)
    rounds = [len(r.get("rounds") or ()) for r in rows if r.get("kind") == "red_team"]
    return {
        "rows": len(rows),
        "red_team_prompts": kinds.get("red_team", 0),
        "helpful_prompts": kinds.get("helpful", 0),
        "critique_revision_rounds": sum(rounds),
        "stopped_early": sum(1 for r in rows if r.get("stopped_early")),
    }


def train_sl(options: "TrainOptions", reporter: Reporter | None = None, *, finish: bool = True) -> dict[str, Any]:
    """`caic train --phase sl`: generate (or finish generating) the SL data, then fine-tune on it.

    With `--resume`, a fine-tune that already finished with the same settings
    on the same data is kept, not redone.
    """
    from cai_lang.train.modelcard import (
        TRAIN_LOG,
        CardFacts,
        Provenance,
        write_model_card,
    )
    from cai_lang.train.sl.sft import train_sft

    reporter = reporter or QuietReporter()
    sl, sft_settings = options.sl, options.sft
    check_model(sl.model, sl.server, trainable=True)
    rank, world = _process_rank()
    run_dir = sl.output
    if rank == 0:
        _clear_marker(run_dir)
        data = generate_sl_data(sl, reporter, finish=False)
        if world > 1:
            _write_marker(run_dir)
    else:
        _wait_for_marker(run_dir)
    rows = read_rows(run_dir / SL_DATA)
    record = RunRecord.open(run_dir)
    model_dir = run_dir / SL_MODEL
    content_hash = record.get("content_hash")
    check_hashes(rows, content_hash, str(run_dir / SL_DATA))
    settings = {**asdict(sft_settings), "base_model": model_identity(sl.model), "data_rows": len(rows), "content_hash": content_hash}
    if sl.resume and record.skip_completed("sl-sft", settings):
        if rank == 0:
            reporter.phase(f"fine-tuning: {model_dir} finished before with these settings; kept")
            record.add_step("sl-sft", skipped=True)
            if finish:
                record.finish_command()
            record.save()
        return {"model_dir": model_dir, "skipped": True}
    if rank == 0:
        reporter.phase(f"fine-tuning {sl.model} on {len(rows)} rows" + (f" in {world} processes" if world > 1 else ""))
    result = train_sft(rows, model=sl.model, output_dir=model_dir, settings=sft_settings)
    if not result.is_main_process:
        return {"model_dir": model_dir}
    record = RunRecord.open(run_dir)
    constitution = record.get("constitution") or {}
    facts = CardFacts(
        provenance=Provenance(constitution.get("name", "?"), constitution.get("version"), record.get("deployment"), content_hash, str(run_dir)),
        kind="sft_model",
        base_model=sl.model,
        method="SFT",
        data={**data_summary(rows), "rows trained on": result.rows, "rows left out": result.dropped, "dataset": SL_DATA},
        training={**asdict(sft_settings), "steps": result.steps, "final_loss": result.final_loss, "data_format": result.data_format, "processes": result.processes},
    )
    write_model_card(model_dir, facts)
    record.set("models", {**record.get("models", {}), "sl_model": str(model_dir.resolve())})
    record.set("sl_training", {**asdict(sft_settings), "processes": result.processes, "data_format": result.data_format})
    record.add_output("sl_model", model_dir, "sft_model", base_model=model_identity(sl.model), steps=result.steps,
                      content_hash=content_hash, training_log=f"{SL_MODEL}/{TRAIN_LOG}")
    record.add_output("sl_training_log", model_dir / TRAIN_LOG, "training_log", model="sl_model")
    record.mark_completed("sl-sft", settings, ["sl_model"])
    record.add_step("sl-sft", steps=result.steps, rows=result.rows)
    if finish:
        record.finish_command()
    record.save()
    return {"model_dir": model_dir, "data": data, "sft": result}


def check_hashes(rows, content_hash: str | None, where: str) -> None:
    """Refuse rows made under another bundle than the run's (see `rl_generate.check_hashes`)."""
    from cai_lang.train.rl.generate import check_hashes as check

    if content_hash is not None:
        check(rows, content_hash, where)


# ---------------------------------------------------------------- phases


@dataclass
class TrainOptions:
    """Everything `caic train` needs: the SL and RL generation options, and each trainer's settings."""

    sl: SLOptions
    sft: "SFTSettings"
    rl: "RLOptions | None" = None
    rl_training: "RLTrainSettings | None" = None


def _train_rl(options: TrainOptions, reporter: Reporter | None = None) -> dict[str, Any]:
    from cai_lang.train.rl.pipeline import train_rl

    return train_rl(options, reporter)


def _train_all(options: TrainOptions, reporter: Reporter | None = None) -> dict[str, Any]:
    from cai_lang.train.rl.pipeline import train_all

    return train_all(options, reporter)


PHASES: dict[str, Callable[..., dict[str, Any]]] = {"sl": train_sl, "rl": _train_rl, "all": _train_all}


def run_phase(phase: str, options: TrainOptions, reporter: Reporter | None = None) -> dict[str, Any]:
    """Run one phase of `caic train`, then write the run's report."""
    if phase not in PHASES:
        raise PipelineError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)}")
    reporter = reporter or QuietReporter()
    result = PHASES[phase](options, reporter)
    if _process_rank()[0] == 0:
        result["report"] = write_report(options.sl.output, reporter)
    return result


def write_report(run_dir: Path, reporter: Reporter | None = None) -> Path | None:
    """`DIR/report.html` (`cai_lang.report.html`, which registers the page in run.json itself).

    A report that fails is a warning, not a failed run: the models are saved already.
    """
    from cai_lang.report.html import write_training_report

    reporter = reporter or QuietReporter()
    try:
        path = Path(write_training_report(Path(run_dir)))
    except Exception as exc:  # noqa: BLE001 - whatever the report does wrong, the trained models stand
        reporter.phase(f"warning: {REPORT} was not written: {type(exc).__name__}: {exc}")
        return None
    reporter.phase(f"report: {path}")
    return path


# ---------------------------------------------------------------- several processes


def _process_rank() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _launch_token() -> str:
    # Every process of one `accelerate launch` shares its launcher as parent
    # and the rendezvous address; a marker from an earlier launch differs.
    return ":".join([os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", ""), os.environ.get("TORCHELASTIC_RUN_ID", ""), str(os.getppid())])


def _clear_marker(run_dir: Path) -> None:
    (run_dir / _MARKER).unlink(missing_ok=True)


def _write_marker(run_dir: Path) -> None:
    from cai_lang.train.run.folder import write_atomic

    write_atomic(run_dir / _MARKER, _launch_token())


def _wait_for_marker(run_dir: Path, poll: float = 0.2) -> None:
    marker = run_dir / _MARKER
    token = _launch_token()
    while True:
        try:
            if marker.read_text(encoding="utf-8") == token:
                return
        except OSError:
            pass
        time.sleep(poll)
