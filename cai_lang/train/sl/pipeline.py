"""The SL-CAI phase in a run folder: `caic generate sl` and the SL half of `caic train`.

Two steps, each recorded in `DIR/run.json` with its outputs and their kinds:
`sl-generate` writes critique → revision rows into `DIR/sl_data.jsonl`
(`cai_lang.train.sl.generate`; resumable row by row), and `sl-sft`
fine-tunes the policy on them into `DIR/sl_model/` (`cai_lang.train.sl.sft`)
with its model card. A fine-tune that ran to its end with the same settings
on the same data is recorded as completed, so `--resume` keeps it. Under
`accelerate launch` with several processes, process 0 compiles and
generates while the others wait, then every process trains. Both steps work
on the `Run` their command opened (`cai_lang.train.run.session`); chaining
this phase with the RL one is `cai_lang.train.phases`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cai_lang.train.run.fit import report_long_prompts
from cai_lang.train.run.folder import RowWriter, check_hashes, read_rows
from cai_lang.train.run.formats import revision_preference_rows, sft_rows, write_rows
from cai_lang.train.run.layout import SL_DATA, SL_MODEL
from cai_lang.train.run.model_specs import check_model, model_identity, open_backend
from cai_lang.train.run.session import (
    GenerationStep,
    QuietReporter,
    Reporter,
    Run,
    clear_marker,
    open_generation_run,
    process_rank,
    wait_for_marker,
    write_marker,
)


@dataclass
class SLDataResult:
    """What `sl-generate` left in the run folder."""

    data_path: Path
    rows: int
    written_now: int
    bundle_path: Path
    content_hash: str
    stats: Any = None


@dataclass
class SLPhaseResult:
    """What the SL phase of `caic train` did: the data, and the fine-tune (None when an earlier run's was kept)."""

    model_dir: Path
    data: SLDataResult | None = None
    sft: Any = None  # SFTResult
    skipped: bool = False


def _sl_settings(options: GenerationStep, bundle) -> dict[str, Any]:
    return {
        "content_hash": bundle.content_hash,
        "deployment": bundle.deployment.name,
        "model": model_identity(options.model, options.server),
        "critic_model": model_identity(options.critic_model, options.server) if options.critic_model else None,
        "prompts": {**asdict(options.prompts), "sources": list(options.prompts.sources)},
        "generation": options.generation.resume_settings(),
    }


def generate_sl_data(run: Run, options: GenerationStep, reporter: Reporter | None = None, *, finish: bool = True) -> SLDataResult:
    """Compile, then write (or, with `resume`, complete) `DIR/sl_data.jsonl`, recording it in run.json.

    Starts this invocation's entry in run.json; `finish=False` leaves it open
    for the steps that follow (fine-tuning).
    """
    from cai_lang.train.sl.generate import generate_sl

    reporter = reporter or QuietReporter()
    data_path = run.layout.sl_data
    bundle, records, settings = open_generation_run(
        run,
        options,
        step="sl_generation",
        other_models=[options.critic_model] if options.critic_model else [],
        outputs=[("sl_data", data_path, "sl_data")],
        settings_of=_sl_settings,
        roles_of=lambda s: {"policy": s["model"], "critic": s["critic_model"] or s["model"]},
        reporter=reporter,
    )
    record = run.record
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
                    on_rows=reporter.advance, on_work=getattr(reporter, "work", None), model_id=settings["model"],
                    critic_model_id=settings["critic_model"] or settings["model"],
                )
            finally:
                policy.close()
                if critic is not None:
                    critic.close()
        reporter.stop()
        total = len(writer)
    record.add_output("sl_data", data_path, "sl_data", rows=total, complete=True, format="jsonl, one row per prompt; `messages` in trl's conversational format")
    sl_rows = read_rows(data_path)
    write_sft_export(run, sl_rows)
    record.add_output("revision_preferences", run.layout.revision_preference_export, "preference_export",
                      rows=write_rows(run.layout.revision_preference_export, revision_preference_rows(sl_rows)),
                      format="jsonl for trl's DPOTrainer as written: the final revision chosen over the initial response, "
                      "the whole conversation as prompt")
    long_prompts = report_long_prompts(stats, options.generation.long_prompts, reporter)
    record.add_step("sl-generate", rows=total, written=stats.written if stats else 0, resumed=options.resume, long_prompts=long_prompts)
    if finish:
        record.finish_command()
    run.save()
    return SLDataResult(data_path, total, stats.written if stats else 0, run.bundle_path, bundle.content_hash, stats)


def write_sft_export(run: Run, rows: list[dict[str, Any]], targets: str = "final", keep_unchanged: bool = False) -> None:
    """`DIR/sft.jsonl`: the rows the fine-tuning trains on (`--sft-targets` and `--sft-unchanged` decide which), recorded in run.json."""
    export, dropped = sft_rows(rows, targets, keep_unchanged=keep_unchanged)
    run.record.add_output("sft", run.layout.sft_export, "sft_export", rows=write_rows(run.layout.sft_export, export), left_out=dropped,
                          targets=targets, format="jsonl for trl's SFTTrainer as written: conversational prompt (the whole "
                          "conversation) / completion (the revision), provenance columns beside them")


def _open_backends(options: GenerationStep):
    policy = open_backend(options.model, options.server, device=options.device, batch_size=options.batch_size)
    critic = None
    if options.critic_model and model_identity(options.critic_model, options.server) != model_identity(options.model, options.server):
        critic = open_backend(options.critic_model, options.server, device=options.device, batch_size=options.batch_size)
    return policy, critic


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


def train_sl(run: Run, sl: GenerationStep, sft_settings, reporter: Reporter | None = None, *, finish: bool = True,
             data_from: Path | None = None) -> SLPhaseResult:
    """`caic train --phase sl`: generate (or finish generating) the SL data, then fine-tune on it.

    `data_from` (`--data RUN_DIR`) takes the SL data another run generated instead (`run.imported`).

    With `--resume`, a fine-tune that already finished with the same settings
    on the same data is kept, not redone.
    """
    from cai_lang.train.modelcard import TRAIN_LOG, CardFacts, Provenance, write_model_card
    from cai_lang.train.sl.sft import train_sft

    reporter = reporter or QuietReporter()
    check_model(sl.model, sl.server, trainable=True)
    rank, world = process_rank()
    data = None
    if rank == 0:
        clear_marker(run)
        if data_from is not None:
            from cai_lang.train.run.imported import import_run_data

            content_hash = import_run_data(run, sl, "sl", data_from, reporter)
            data = SLDataResult(run.layout.sl_data, len(read_rows(run.layout.sl_data)), 0, run.bundle_path, content_hash)
        else:
            data = generate_sl_data(run, sl, reporter, finish=False)
        if world > 1:
            write_marker(run)
    else:
        wait_for_marker(run)
    record = run.record
    rows = read_rows(run.layout.sl_data)
    model_dir = run.layout.sl_model
    content_hash = record.get("content_hash")
    check_hashes(rows, content_hash, str(run.layout.sl_data))
    settings = {**asdict(sft_settings), "base_model": model_identity(sl.model), "data_rows": len(rows), "content_hash": content_hash}
    if sl.resume and record.skip_completed("sl-sft", settings):
        if rank == 0:
            reporter.phase(f"fine-tuning: {model_dir} finished before with these settings; kept")
            record.add_step("sl-sft", skipped=True)
            if finish:
                record.finish_command()
            run.save()
        return SLPhaseResult(model_dir, data, skipped=True)
    if rank == 0:
        write_sft_export(run, rows, sft_settings.targets, sft_settings.keep_unchanged)
        reporter.phase(f"fine-tuning {sl.model} on {len(rows)} rows" + (f" in {world} processes" if world > 1 else ""))
    from cai_lang.train.ledger import ledger_counts, publish

    result = train_sft(rows, model=sl.model, output_dir=model_dir, settings=sft_settings,
                       on_ledger=lambda ledger: publish(ledger, run, "sft", reporter), resume=sl.resume)
    if not result.is_main_process:
        return SLPhaseResult(model_dir)
    constitution = record.get("constitution") or {}
    facts = CardFacts(
        provenance=Provenance(constitution.get("name", "?"), constitution.get("version"), record.get("deployment"), content_hash, str(run.folder)),
        kind="sft_model",
        base_model=sl.model,
        method="SFT",
        data={**data_summary(rows), "rows trained on": result.rows, "rows left out": result.dropped,
              "rows truncated": result.ledger.count("truncated"), "dataset": SL_DATA},
        training={**asdict(sft_settings), "steps": result.steps, "final_loss": result.final_loss, "data_format": result.data_format, "processes": result.processes,
                  "hardware": result.hardware, "weights": result.weights},
    )
    write_model_card(model_dir, facts)
    record.merge("models", {"sl_model": str(model_dir.resolve())})
    record.set("sl_training", {**asdict(sft_settings), "processes": result.processes, "data_format": result.data_format,
                               "placement": result.hardware, "weights": result.weights})
    record.add_output("sl_model", model_dir, "sft_model", base_model=model_identity(sl.model), steps=result.steps,
                      content_hash=content_hash, training_log=f"{SL_MODEL}/{TRAIN_LOG}")
    record.add_output("sl_training_log", model_dir / TRAIN_LOG, "training_log", model="sl_model")
    record.mark_completed("sl-sft", settings, ["sl_model"])
    record.add_step("sl-sft", steps=result.steps, **ledger_counts(result.ledger))
    if finish:
        record.finish_command()
    run.save()
    return SLPhaseResult(model_dir, data, result)
