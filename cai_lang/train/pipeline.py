"""What `caic generate sl` and `caic train --phase sl` run, step by step, in a run folder.

The pipeline owns the order of things and their record: check that the
models can be opened (fast, before anything slow), compile the constitution
with `cai_lang.api.compile_file` into `DIR/bundle/` (or take a bundle
already compiled), load the bundle back from disk (the trainer reads
bundles, never `.const` text), generate SL-CAI rows into `DIR/sl_data.jsonl`,
fine-tune into `DIR/sl_model/`, and register each of these in
`DIR/run.json`. Phases are looked up in `PHASES`, so the RL phase plugs in
beside SL without touching the command line's shape.

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
from typing import Any, Callable, Protocol

from cai_lang.train.prompts import PromptSelection, select_prompts
from cai_lang.train.runs import RowWriter, RunError, RunRecord, read_rows
from cai_lang.train.sl_generate import SLGenerationConfig

BUNDLE_DIR = "bundle"
SL_DATA = "sl_data.jsonl"
SL_MODEL = "sl_model"
_MARKER = ".sl-data-ready"


class PipelineError(RuntimeError):
    """A step that cannot go ahead; the message says why (the CLI shows it and exits 2)."""


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


@dataclass
class SLDataResult:
    data_path: Path
    rows: int
    written_now: int
    bundle_path: Path
    content_hash: str
    stats: Any = None


# ---------------------------------------------------------------- models


def check_model(spec: str) -> None:
    """Fail at once, with the reason, when `spec` names no model that can be opened here.

    Local folders are checked for `config.json`; a Hub id must be well formed
    and, when Hub access is off (HF_HUB_OFFLINE=1), already in the cache.
    """
    from cai_lang.engine import hub_id_problem

    if spec.startswith(("http://", "https://")):
        raise PipelineError(f"{spec}: servers can write critiques in the Python API, but the command line takes model folders or Hub ids")
    path = Path(spec).expanduser()
    if path.exists():
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise PipelineError(f"{spec} is not a model folder (no config.json in it)")
        return
    problem = hub_id_problem(spec)
    if problem:
        raise PipelineError(f"cannot load model {spec!r}: no such folder, and not a Hub id: {problem}")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    ).lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(spec, "config.json"), str):
            raise PipelineError(
                f"cannot load model {spec!r} offline: Hub downloads are off (HF_HUB_OFFLINE=1) and it is not in the "
                "local cache; pass a model folder (e.g. one made by `caic tiny-model`)"
            )


def model_identity(spec: str) -> str:
    """How a model is recorded: a local folder by its absolute path, a Hub id as written."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


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
        "model": model_identity(options.model),
        "critic_model": model_identity(options.critic_model) if options.critic_model else None,
        "prompts": {**asdict(options.prompts), "sources": list(options.prompts.sources)},
        "generation": options.generation.resume_settings(),
    }


def generate_sl_data(options: SLOptions, reporter: Reporter | None = None, *, finish: bool = True) -> SLDataResult:
    """Compile, then write (or, with `resume`, complete) `DIR/sl_data.jsonl`, recording it in run.json.

    Starts this invocation's entry in run.json; `finish=False` leaves it open
    for the steps that follow (fine-tuning).
    """
    from cai_lang.train.sl_generate import generate_sl

    reporter = reporter or QuietReporter()
    run_dir = options.output
    data_path = run_dir / SL_DATA
    check_model(options.model)
    if options.critic_model:
        check_model(options.critic_model)
    if data_path.exists() and data_path.stat().st_size > 0 and not options.resume:
        raise RunError(f"{data_path} already holds rows; pass --resume to continue that run, or choose another -o")
    run_dir.mkdir(parents=True, exist_ok=True)
    reporter.phase("compiling the constitution")
    bundle, bundle_path = prepare_bundle(options.source, options.deployment, run_dir)
    record = RunRecord.open(run_dir)
    settings = _sl_settings(options, bundle)
    if options.resume:
        record.check_same("sl_generation", settings)
    records = select_prompts(options.prompts)
    record.start_command(options.argv)
    record.set("seed", options.generation.seed)
    record.set("content_hash", bundle.content_hash)
    record.set("constitution", {"name": bundle.constitution.name, "version": bundle.constitution.version, "source": str(options.source)})
    record.set("deployment", bundle.deployment.name)
    record.set("models", {**record.get("models", {}), "policy": settings["model"], "critic": settings["critic_model"] or settings["model"]})
    record.set("sl_generation", settings)
    record.add_output("bundle", bundle_path, "bundle", content_hash=bundle.content_hash)
    record.add_output("sl_data", data_path, "dataset", rows=0, complete=False)
    record.save()

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
    record.add_output("sl_data", data_path, "dataset", rows=total, complete=True, format="jsonl, one row per prompt; `messages` in trl's conversational format")
    record.add_step("sl-generate", rows=total, written=stats.written if stats else 0, resumed=options.resume)
    if finish:
        record.finish_command()
    record.save()
    return SLDataResult(data_path, total, stats.written if stats else 0, bundle_path, bundle.content_hash, stats)


def _open_backends(options: SLOptions):
    from cai_lang.engine import load_backend

    policy = load_backend(options.model, device=options.device, batch_size=options.batch_size)
    critic = None
    if options.critic_model and model_identity(options.critic_model) != model_identity(options.model):
        critic = load_backend(options.critic_model, device=options.device, batch_size=options.batch_size)
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


def train_sl(options: SLOptions, sft_settings, reporter: Reporter | None = None) -> dict[str, Any]:
    """`caic train --phase sl`: generate (or finish generating) the SL data, then fine-tune on it."""
    from cai_lang.train.modelcard import CardFacts, Provenance, write_model_card
    from cai_lang.train.sft import TRAIN_LOG, train_sft

    reporter = reporter or QuietReporter()
    rank, world = _process_rank()
    run_dir = options.output
    if rank == 0:
        _clear_marker(run_dir)
        data = generate_sl_data(options, reporter, finish=False)
        if world > 1:
            _write_marker(run_dir)
    else:
        check_model(options.model)
        _wait_for_marker(run_dir)
    rows = read_rows(run_dir / SL_DATA)
    if rank == 0:
        reporter.phase(f"fine-tuning {options.model} on {len(rows)} rows" + (f" in {world} processes" if world > 1 else ""))
    model_dir = run_dir / SL_MODEL
    result = train_sft(rows, model=options.model, output_dir=model_dir, settings=sft_settings)
    if not result.is_main_process:
        return {"model_dir": model_dir}
    record = RunRecord.open(run_dir)
    constitution = record.get("constitution") or {}
    facts = CardFacts(
        provenance=Provenance(constitution.get("name", "?"), constitution.get("version"), record.get("deployment"), data.content_hash, str(run_dir)),
        kind="sft_model",
        base_model=options.model,
        method="SFT",
        data={**data_summary(rows), "rows trained on": result.rows, "rows left out": result.dropped, "dataset": SL_DATA},
        training={**asdict(sft_settings), "steps": result.steps, "final_loss": result.final_loss, "data_format": result.data_format, "processes": result.processes},
    )
    write_model_card(model_dir, facts)
    record.set("models", {**record.get("models", {}), "sl_model": str(model_dir.resolve())})
    record.set("sl_training", {**asdict(sft_settings), "processes": result.processes, "data_format": result.data_format})
    record.add_output("sl_model", model_dir, "model", base_model=model_identity(options.model), steps=result.steps, content_hash=data.content_hash)
    record.add_output("sl_training_log", model_dir / TRAIN_LOG, "report")
    record.add_step("sl-sft", steps=result.steps, rows=result.rows)
    record.finish_command()
    record.save()
    return {"model_dir": model_dir, "data": data, "sft": result}


# ---------------------------------------------------------------- phases

PHASES: dict[str, Callable[..., dict[str, Any]]] = {"sl": train_sl}
PLANNED_PHASES = ("rl", "all")


def run_phase(phase: str, options: SLOptions, sft_settings, reporter: Reporter | None = None) -> dict[str, Any]:
    if phase in PLANNED_PHASES and phase not in PHASES:
        raise PipelineError(f"--phase {phase} is not available yet: only the SL phase (--phase sl) is implemented")
    if phase not in PHASES:
        raise PipelineError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)}")
    return PHASES[phase](options, sft_settings, reporter)


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
    from cai_lang.train.runs import write_atomic

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
