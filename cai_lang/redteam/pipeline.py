"""`caic redteam` from start to finish in a run folder, as the other generation commands work.

The folder gets the compiled bundle (`bundle/`), the regions (`regions.json`),
the prompts (`redteam.jsonl`), the rejected outputs
(`redteam_rejected.jsonl`) and `run.json` with the command, the bundle's
hash, the generator and the settings. The folder's writer lock is held for
the whole command. A folder that already holds prompts is continued only
with `--resume`, and only with the same settings, constitution and model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cai_lang.redteam.generate import PROMPTS_FILE, REGIONS_FILE, REJECTED_FILE, Generator, Ledger, RedteamSettings, write_regions


@dataclass
class RedteamOutcome:
    prompts: Path
    kept: int
    rejected: Counter
    regions: int
    short: list[tuple[str, str, int]]  # (region, style, prompts kept) where fewer than per_region


def run_redteam(source: Path, model: str, out: Path, settings: RedteamSettings, *, deployment: str | None = None,
                resume: bool = False, server=None, device: str = "auto", batch_size: int = 8, argv: list[str] | None = None,
                say: Callable[[str], None] = lambda text: None) -> RedteamOutcome:
    from cai_lang import api
    from cai_lang.redteam.regions import compute_regions
    from cai_lang.train.run.folder import RunError
    from cai_lang.train.run.model_specs import ServerSettings, check_dialect, check_model, model_identity, open_backend
    from cai_lang.train.run.session import Run, has_rows

    server = server or ServerSettings()
    check_model(model, server)
    check_dialect(model, settings.dialect, "generator", "--dialect")
    run = Run.open(out)
    kept_path, rejected_path = run.folder / PROMPTS_FILE, run.folder / REJECTED_FILE
    if not resume and (has_rows(kept_path) or has_rows(rejected_path)):
        raise RunError(f"{kept_path} already holds rows; pass --resume to continue that run, or choose another -o")
    say("finding the regions")
    result = api.check_file(source)
    if result.errors:
        raise api.CompileRefused(result)
    bundle, _ = run.bundle_for(Path(source), deployment)
    regions = compute_regions(result, deployment or "default")
    generator = model_identity(model, server)
    recorded = {**settings.resume_settings(), "generator": generator, "deployment": regions.deployment}
    if resume:
        run.record.check_same("redteam", recorded)
    run.record.start_command(argv)
    run.record_bundle(Path(source), settings.seed)
    run.record.set("redteam", recorded)
    write_regions(regions, run.folder / REGIONS_FILE)
    run.record.add_output("regions", run.folder / REGIONS_FILE, "regions", regions=len(regions.regions))
    run.record.add_output("redteam", kept_path, "prompts", rows=0, complete=False)
    run.save()
    say(f"{len(regions.regions)} regions × {len(settings.styles)} styles × {settings.per_region} prompts; generator {generator}")
    backend = open_backend(model, server, device=device, batch_size=batch_size)
    ledger = Ledger(kept_path, rejected_path)
    try:
        Generator(regions, bundle, backend, settings, generator, ledger, say).run()
    finally:
        ledger.close()
    counts = Counter((r["region"], r["style"]) for r in ledger.rows)
    short = [(r.id, s, counts[(r.id, s)]) for r in regions.regions for s in settings.styles if counts[(r.id, s)] < settings.per_region]
    rejected = Counter(_reason_kind(r["reason"]) for r in ledger.rejected_rows)
    run.record.add_output("redteam", kept_path, "prompts", rows=len(ledger.rows), rejected=sum(rejected.values()),
                          rejected_file=str(rejected_path), complete=True, short_cells=len(short))
    run.record.finish_command()
    run.save()
    return RedteamOutcome(kept_path, len(ledger.rows), rejected, len(regions.regions), short)


def _reason_kind(reason: str) -> str:
    return "near-duplicate" if reason.startswith("near-duplicate") else reason
