"""One command's hold on a run folder: the record opened once, the bundle compiled once, progress.

`Run.open(folder)` reads `run.json` (through `RunRecord`) at the start of a
command; every step of that command (`--phase all` runs six) works on the
same `Run`, so the record is read once and only written. `Run.bundle_for`
compiles the constitution into `DIR/bundle/` (or takes a bundle already
compiled), refuses a folder made under another bundle, loads the bundle
back from disk (the trainer reads bundles, never `.const` text) and keeps
it for the command's later steps. `open_generation_run` is what every data
step (SL, RL) does before its first row. `Reporter` is how steps say what
they are doing; `GenerationStep` is what a data step takes. Under `accelerate launch`, process 0 compiles and generates
while the others wait for a marker file tagged with this launch, then
re-read the record process 0 wrote. Nothing here imports torch.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from cai_lang.train.run.context_labels import label_report
from cai_lang.train.run.folder import RunError, write_atomic
from cai_lang.train.run.lock import acquire, holder_of_launch, join, launch_token, process_rank
from cai_lang.train.run.model_specs import PipelineError, ServerSettings, check_dialects, check_model
from cai_lang.train.run.prompts import PromptSelection, select_prompts_with_summary
from cai_lang.train.run.record import RunRecord


class Reporter(Protocol):
    def phase(self, text: str) -> None: ...
    def start(self, total: int, completed: int) -> None: ...
    def advance(self, n: int) -> None: ...
    # Inside the current chunk: engine inputs done of total, and its prompts not yet advanced (run.work).
    def work(self, done: int, total: int, pending: int) -> None: ...
    def stop(self) -> None: ...


class QuietReporter:
    """A reporter that says nothing (tests, library use)."""

    def phase(self, text: str) -> None:
        pass

    def start(self, total: int, completed: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def work(self, done: int, total: int, pending: int) -> None:
        pass

    def stop(self) -> None:
        pass


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


@dataclass
class Run:
    """A run folder as one command holds it: its record, and the bundle once compiled."""

    record: RunRecord
    bundle: Any = None
    bundle_path: Path | None = None
    _compiled: tuple[str, str | None] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, folder: str | Path) -> "Run":
        """Open the folder for this command; rank 0 holds its writer lock until the command exits.

        Any other rank of a real launch waits (bounded) until rank 0 of its own launch holds it.
        """
        if process_rank()[0] == 0:
            acquire(folder)
        else:
            join(folder)
        return cls(RunRecord.open(folder))

    @property
    def folder(self) -> Path:
        return self.record.folder

    @property
    def layout(self):
        return self.record.layout

    def bundle_for(self, source: Path, deployment: str | None):
        """Compile `source` (or read it, if it is a compiled bundle) into `DIR/bundle/` and load it from there.

        The second call of a command with the same source returns the bundle already loaded.
        """
        if self._compiled == (str(source), deployment):
            return self.bundle, self.bundle_path
        from cai_lang import api
        from cai_lang.codegen.bundle import BUNDLE_FILE, BundleError, load_bundle

        if source.is_dir() or source.suffix == ".json":
            try:
                bundle = load_bundle(source)
            except BundleError as exc:
                raise PipelineError(str(exc)) from exc
            if deployment is not None and deployment != bundle.deployment.name:
                raise PipelineError(f"{source} is the bundle of deployment `{bundle.deployment.name}`, not `{deployment}`")
        else:
            bundle = api.compile_file(source, deployment=deployment)[0]
        previous = self.record.get("content_hash")
        if previous is not None and previous != bundle.content_hash:
            raise RunError(
                f"{self.folder} was made with bundle {previous[:16]}…, and {source} now compiles to "
                f"{bundle.content_hash[:16]}…; use a new output folder"
            )
        api.write_bundle(bundle, self.layout.bundle_dir)
        path = self.layout.bundle_dir / bundle.deployment.name / BUNDLE_FILE
        self.bundle, self.bundle_path, self._compiled = load_bundle(path), path, (str(source), deployment)
        return self.bundle, self.bundle_path

    def recorded_bundle(self):
        """The bundle this run registered (a step that did not compile it this command)."""
        if self.bundle is None:
            from cai_lang.codegen.bundle import load_bundle

            self.bundle_path = self.record.output_path("bundle")
            self.bundle = load_bundle(self.bundle_path)
        return self.bundle

    def record_bundle(self, source: Path, seed: int, *, keep_first: bool = False) -> None:
        """The facts every command notes about its run: seed, bundle, constitution, deployment.

        `keep_first` (an evaluation) leaves facts an earlier command recorded as they are.
        """
        note = self.record.keep if keep_first else self.record.set
        bundle = self.bundle
        note("seed", seed)
        self.record.set("content_hash", bundle.content_hash)
        note("constitution", {"name": bundle.constitution.name, "version": bundle.constitution.version, "source": str(source)})
        self.record.set("deployment", bundle.deployment.name)
        self.record.add_output("bundle", self.bundle_path, "bundle", content_hash=bundle.content_hash)

    def save(self) -> None:
        self.record.save()


def has_rows(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def open_generation_run(
    run: Run,
    options: GenerationStep,
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
    outputs in run.json. Returns (bundle, prompt records, settings).
    """
    check_model(options.model, options.server)
    for spec in other_models:
        check_model(spec, options.server)
    check_dialects(options)
    if not options.resume:
        for _, path, _ in outputs:
            if has_rows(path):
                raise RunError(f"{path} already holds rows; pass --resume to continue that run, or choose another -o")
    run.folder.mkdir(parents=True, exist_ok=True)
    reporter.phase("compiling the constitution")
    bundle, _ = run.bundle_for(options.source, options.deployment)
    record = run.record
    settings = settings_of(options, bundle)
    if options.resume:
        record.check_same(step, settings)
    records, summary = select_prompts_with_summary(options.prompts)
    reporter.phase("\n".join(summary))
    labels, label_lines = label_report(bundle, records)
    reporter.phase("\n".join(label_lines))
    if start:
        record.start_command(options.argv)
    run.record_bundle(options.source, options.generation.seed)
    record.merge("models", roles_of(settings))
    record.set(step, settings)
    # What was selected from where, per step (the prompt selection printed above).
    record.merge("prompt_selection", {step: summary})
    record.merge("context_labels", {step: labels})
    for name, path, kind in outputs:
        record.add_output(name, path, kind, rows=0, complete=False)
    run.save()
    return bundle, records, settings


# ---------------------------------------------------------------- several processes


def clear_marker(run: Run) -> None:
    run.layout.sl_ready_marker.unlink(missing_ok=True)


def write_marker(run: Run) -> None:
    write_atomic(run.layout.sl_ready_marker, launch_token())


def wait_for_marker(run: Run, poll: float = 0.2) -> None:
    """Wait for process 0 of this launch to write the SL data, then take the record it wrote.

    Says what it waits for, and gives up as soon as rank 0 of this launch no longer holds the folder.
    """
    marker = run.layout.sl_ready_marker
    token = launch_token()
    sys.stderr.write(f"rank {process_rank()[0]}: waiting for rank 0 to write the SL data in {run.folder}\n")
    while True:
        try:
            if marker.read_text(encoding="utf-8") == token:
                run.record.reload()
                return
        except OSError:
            pass
        if not holder_of_launch(run.folder):
            raise PipelineError(f"rank {process_rank()[0]}: rank 0 of this launch no longer holds {run.folder}; it stopped before writing the SL data")
        time.sleep(poll)
