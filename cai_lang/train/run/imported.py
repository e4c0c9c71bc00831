"""Training on data generated elsewhere: `caic train --data RUN_DIR` takes another run's SL or RL data.

The usual split of work is to generate on a server (`caic generate sl|rl
-m http://…`) and fine-tune a local copy of a model. The generating run's
folder holds the data and, in its run.json, the content hash of the bundle
it was made under. `import_run_data` compiles this command's constitution,
refuses data made under another bundle (its critiques and labels answer
another constitution's questions), checks every row's hash, copies the data
files into this run's folder, and records where they came from, which
models made them and how many rows each holds. The training steps then read
them as if this run had generated them. Nothing here imports torch.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cai_lang.train.run.folder import RunError, check_hashes, read_rows
from cai_lang.train.run.layout import RL_LABELS, RL_PAIRS, RUN_FILE, SL_DATA
from cai_lang.train.run.model_specs import PipelineError
from cai_lang.train.run.record import RunRecord

# The files each phase trains on, by name in the generating run's folder, with their run.json kinds.
PHASE_FILES = {"sl": (SL_DATA,), "rl": (RL_PAIRS, RL_LABELS)}
KINDS = {SL_DATA: "sl_data", RL_PAIRS: "pairs", RL_LABELS: "preference_labels"}


def import_run_data(run, step, phase: str, source_dir: Path, reporter) -> str:
    """Copy `phase`'s data from `source_dir` into `run`'s folder after checking it; return the bundle hash."""
    source_dir = Path(source_dir)
    generating = RunRecord(source_dir)  # read-only: this command never writes the other run's record
    if not generating.exists:
        raise PipelineError(f"--data {source_dir}: no {RUN_FILE} there; give the folder a `caic generate` run wrote")
    try:
        generating.reload()
    except RunError as exc:
        raise PipelineError(f"--data {source_dir}: {exc}") from None
    theirs = generating.data
    reporter.phase("compiling the constitution")
    bundle, _ = run.bundle_for(step.source, step.deployment)
    made_under = theirs.get("content_hash")
    if made_under != bundle.content_hash:
        raise PipelineError(
            f"--data {source_dir} was made under bundle {str(made_under)[:16]}…, but {step.source} (deployment "
            f"{bundle.deployment.name}) compiles to {bundle.content_hash[:16]}…: its critiques and labels answer another "
            "constitution's questions; train with the constitution and deployment it was generated from"
        )
    counts: dict[str, int] = {}
    for name in PHASE_FILES[phase]:
        source = source_dir / name
        if not source.exists():
            raise PipelineError(f"--data {source_dir}: no {name}; the {phase.upper()} phase trains on {', '.join(PHASE_FILES[phase])}")
        rows = read_rows(source)
        if not rows:
            raise PipelineError(f"--data {source}: no rows")
        check_hashes(rows, bundle.content_hash, str(source))
        target = run.folder / name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        counts[name] = len(rows)
    record = run.record
    record.start_command(step.argv)
    run.record_bundle(step.source, step.generation.seed)
    origin: dict[str, Any] = {
        "from": str(source_dir.resolve()), "phase": phase, "rows": counts, "content_hash": made_under,
        "models": theirs.get("models", {}),
    }
    record.merge("imported_data", {phase: origin})
    for name, rows in counts.items():
        record.add_output(name.removesuffix(".jsonl"), run.folder / name, KINDS[name], rows=rows, complete=True, imported_from=str(source_dir.resolve()))
    record.add_step("import-data", phase=phase, **{"from": str(source_dir.resolve())}, rows=counts)
    run.save()
    made_by = ", ".join(f"{role} {model}" for role, model in origin["models"].items()) or "models not recorded"
    reporter.phase(f"training on {phase.upper()} data from {source_dir} ({', '.join(f'{n}: {c} rows' for n, c in counts.items())}; made by {made_by})")
    return bundle.content_hash
