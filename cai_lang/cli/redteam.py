"""`caic redteam` (prompts written per region × attack style) and `caic coverage` (what a prompt set reaches);
registered on the app by `cai_lang.cli.app`. The work is in `cai_lang.redteam`, imported inside the commands.

`coverage` exits 0, or 1 when `--min N` finds a region with fewer than N
prompts (or the constitution has errors), 2 on usage and I/O problems.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import List, Optional

import typer

from cai_lang.cli.boundary import guarded
from cai_lang.cli.common import HAS_ERRORS, Dialect, fail


class CoverageFormat(str, enum.Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def register(app: typer.Typer) -> None:
    app.command("redteam")(redteam)
    app.command("coverage")(coverage)


def redteam(
    file: Path = typer.Argument(..., help="The constitution (.const).", show_default=False),
    model: str = typer.Option(..., "--model", "-m", help="The generator: a model folder, a Hub id or a server URL (URL#NAME, URL1,URL2#NAME).", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder to write into.", show_default=False),
    per_region: int = typer.Option(2, "--per-region", "-n", help="Prompts wanted per region and style."),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Whose regions (default: `default`)."),
    style: Optional[List[str]] = typer.Option(None, "--style", help="Attack styles (repeatable; default all): direct, roleplay, escalation, obfuscated, benign."),
    seed: int = typer.Option(0, "--seed", help="Seeds the seed-prompt draws and sampling."),
    rounds: int = typer.Option(3, "--rounds", help="Tries per cell: later rounds ask again for cells left short by empty outputs or near-duplicates."),
    shots: int = typer.Option(3, "--shots", help="Seed prompts shown in each request."),
    similarity: float = typer.Option(90.0, "--similarity", help="Near-duplicate cut-off (rapidfuzz ratio, 0-100)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Most tokens per generated message."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature; 0 decodes greedily."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass."),
    dialect: Dialect = typer.Option(Dialect.chat, "--dialect", help="`chat` (chat template) or `text` (Human:/Assistant: transcript)."),
    chunk_size: int = typer.Option(32, "--chunk-size", help="Cells generated together."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run in the same folder."),
    served_model: Optional[str] = typer.Option(None, "--served-model", help="The model name a server serves."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable holding a server's API key."),
    device: str = typer.Option("auto", "--device", help="Device of a local model."),
    batch_size: int = typer.Option(8, "--batch-size", help="Local generation batch size."),
) -> None:
    """Write red-team prompts for every region of the constitution × attack style (a --prompts file)."""
    from cai_lang.redteam.generate import RedteamSettings
    from cai_lang.redteam.pipeline import run_redteam
    from cai_lang.train.run.model_specs import ServerSettings

    if not file.is_file():
        raise fail(f"cannot read {file}: no such file")
    try:
        settings = RedteamSettings(per_region=per_region, styles=tuple(style) if style else RedteamSettings().styles, seed=seed, rounds=rounds,
                                   shots=shots, similarity=similarity, max_new_tokens=max_new_tokens, temperature=temperature,
                                   top_p=top_p, dialect=dialect.value, chunk_size=chunk_size)
    except ValueError as exc:
        raise fail(str(exc))
    say = lambda text: typer.echo(f"caic redteam: {text}", err=True)  # noqa: E731
    outcome = guarded(lambda: run_redteam(file, model, output, settings, deployment=deployment, resume=resume,
                                          server=ServerSettings(served_model=served_model, api_key_env=api_key_env),
                                          device=device, batch_size=batch_size, argv=list(sys.argv), say=say))
    rejected = ", ".join(f"{n} {why}" for why, n in outcome.rejected.most_common()) or "none"
    typer.echo(f"{outcome.prompts}: {outcome.kept} prompts for {outcome.regions} regions × {len(settings.styles)} styles (rejected: {rejected})")
    if outcome.short:
        typer.echo(f"{len(outcome.short)} region × style cells have fewer than {per_region} prompts after {rounds} rounds:")
        for region, name, have in outcome.short[:20]:
            typer.echo(f"  {region} / {name}: {have}")


def coverage(
    file: Path = typer.Argument(..., help="The constitution (.const).", show_default=False),
    prompts: List[str] = typer.Option(..., "--prompts", "-p", help="Prompt sets: shipped names (red_team, helpful), .jsonl/.csv files or datasets folders; repeatable.", show_default=False),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Whose regions (default: `default`)."),
    minimum: Optional[int] = typer.Option(None, "--min", help="Exit 1 when any region has fewer than this many prompts."),
    output_format: CoverageFormat = typer.Option(CoverageFormat.text, "--format", "-f", help="text, json, or markdown (a report section)."),
    split: str = typer.Option("all", "--split", help="Which rows: train, eval or all."),
    infer_context: bool = typer.Option(False, "--infer-context", help="A model (--model) fills in missing or unknown context labels first."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="The model that infers context labels (with --infer-context)."),
    dialect: Dialect = typer.Option(Dialect.chat, "--dialect", help="How the inference model is asked."),
) -> None:
    """Which regions, rules, principles, conflict clauses and deployments a prompt set reaches, and which it never does."""
    from cai_lang import api
    from cai_lang.redteam import coverage as cov
    from cai_lang.redteam.regions import compute_regions
    from cai_lang.train.run.prompts import load_prompts

    if minimum is not None and minimum < 0:
        raise fail("--min must be at least 0")
    if infer_context and model is None:
        raise fail("--infer-context needs --model: the model that infers the labels")
    if not file.is_file():
        raise fail(f"cannot read {file}: no such file")

    def work():
        result = api.check_file(file, deployment=deployment)
        if result.errors:
            raise api.CompileRefused(result)
        regions = compute_regions(result, deployment or "default")
        records = [r for source in prompts for r in load_prompts(source, split=split)]
        if infer_context:
            records = _infer(records, model, result, deployment, dialect.value)
        return cov.measure(regions, [r.context for r in records], prompts)

    report = guarded(work, nothing="nothing measured")
    if output_format is CoverageFormat.json:
        import json

        typer.echo(json.dumps(report.to_json(minimum), indent=2, ensure_ascii=False))
    elif output_format is CoverageFormat.markdown:
        typer.echo(cov.render_markdown(report), nl=False)
    else:
        typer.echo(cov.render_text(report, minimum), nl=False)
    if minimum is not None and report.below(minimum):
        raise typer.Exit(HAS_ERRORS)


def _infer(records, model: str, result, deployment, dialect: str):
    from cai_lang import api
    from cai_lang.train.run.context_labels import infer_context
    from cai_lang.train.run.model_specs import ServerSettings, check_model, open_backend

    check_model(model)
    bundle = api.compile_checked(result, deployment=deployment)[0]
    backend = open_backend(model, ServerSettings(), device="auto", batch_size=8)
    return infer_context(records, backend, bundle, dialect)
