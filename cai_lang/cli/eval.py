"""`caic eval`: measure a model against a constitution on held-out prompts; registered on the app by `cai_lang.cli.app`.

The command only parses options and reports; the evaluation itself is
`cai_lang.eval.run.run_eval`, imported inside the command so that
`caic check` never pays for torch. Bad input (a missing file, a model that
cannot be opened offline, a prompt set with no held-out rows) exits 2 with
one line on stderr; a constitution with errors exits 1 with its
diagnostics, as `caic compile` and `caic train` do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from cai_lang.cli.common import HAS_ERRORS, Dialect, Split, quiet_libraries
from cai_lang.cli.common import fail as _fail


def register(app: typer.Typer) -> None:
    """Add `caic eval` to the app."""
    app.command("eval")(evaluate)


def evaluate(
    file: Path = typer.Argument(..., help="The `.const` file (or a compiled bundle.json / bundle folder).", show_default=False),
    model: str = typer.Option(..., "--model", "-m", help="The model to evaluate: a folder saved with save_pretrained, or a Hub id."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for metrics.json, report.html, plots/, responses.jsonl and run.json."),
    baseline: Optional[str] = typer.Option(None, "--baseline", "-b", help="A model to compare against (win rate); it is measured the same way."),
    feedback_model: Optional[str] = typer.Option(None, "--feedback-model", help="Critic and comparison judge (default: the baseline, else the model)."),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Deployment to compile (default: `default`)."),
    prompts: Optional[List[str]] = typer.Option(None, "--prompts", "-p", help="Prompt sets: shipped names, .jsonl/.csv files or datasets folders; repeatable (default: the shipped red_team and helpful sets)."),
    split: Split = typer.Option(Split.eval, "--split", help="Which rows of the prompt sets to use (default: the held-out `eval` rows)."),
    max_prompts: Optional[int] = typer.Option(None, "--max-prompts", "-k", help="Use at most this many prompts (a seeded sample)."),
    samples: int = typer.Option(1, "--samples", help="Responses sampled per prompt."),
    benign: Optional[Path] = typer.Option(None, "--benign", help="JSONL of held-out benign dialogues: the loss on their replies is reported."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Most tokens per response."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature of the responses; 0 decodes greedily."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seeds prompt sampling and generation (the same seed gives two models the same draws)."),
    dialect: Dialect = typer.Option(Dialect.chat, "--dialect", help="`chat` for models with a chat template, `text` for base models."),
    critiques: bool = typer.Option(True, "--critiques/--no-critiques", help="Judge principles without a detect regex by critiques."),
    critique_tokens: int = typer.Option(24, "--critique-tokens", help="Most tokens per critique (only its first line is read)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Rows per generate or scoring batch."),
    device: str = typer.Option("auto", "--device", help="`auto`, `cpu` or `cuda`."),
) -> None:
    """Evaluate a model against a constitution: violation, win and refusal rates on held-out prompts, with a report."""
    from cai_lang.eval.run import EvalError, EvalOptions, run_eval

    if batch_size < 1:
        raise _fail("--batch-size must be at least 1")
    if benign is not None and not benign.is_file():
        raise _fail(f"cannot read {benign}: no such file")
    if not file.exists():
        raise _fail(f"cannot read {file}: no such file or folder")
    try:
        options = EvalOptions(
            source=file, model=model, output=output, baseline=baseline, feedback_model=feedback_model,
            deployment=deployment, prompts=tuple(prompts or ()), split=split.value, max_prompts=max_prompts,
            samples=samples, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
            dialect=dialect.value, benign=benign, critiques=critiques, critique_tokens=critique_tokens,
            batch_size=batch_size, device=device, argv=list(sys.argv),
        )
    except EvalError as exc:
        raise _fail(str(exc))
    metrics = _run(lambda say: run_eval(options, say))
    model_side = metrics["model"]
    line = f"{output}: violation rate {_pct(model_side['violation_rate'])} (regex rules), refusal rate {_pct(model_side['refusal']['rate'])}"
    if model_side.get("benign"):
        line += f", benign loss {model_side['benign']['loss']:.4f}"
    if metrics.get("win_rate"):
        line += f", win rate vs baseline {_pct(metrics['win_rate']['overall']['win_rate'])}"
    typer.echo(line)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _run(step):
    """Run the evaluation with progress lines on stderr, turning expected failures into exit codes."""
    from rich.console import Console

    from cai_lang.api import CompileRefused, UnknownDeployment
    from cai_lang.codegen.bundle import BundleError
    from cai_lang.engine import EngineError
    from cai_lang.eval.run import EvalError
    from cai_lang.train.pipeline import PipelineError
    from cai_lang.train.run.folder import RunError
    from cai_lang.train.run.prompts import PromptSetError

    quiet_libraries()
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return step(lambda text: console.print(f"[bold]caic eval:[/] {text}"))
    except CompileRefused as refused:
        from cai_lang.diagnostics import render

        for diagnostic in refused.result.diagnostics:
            console.print(render.render_text(diagnostic, refused.sources))
        console.print(f"{render.summary_line(refused.result.diagnostics)}: nothing evaluated", markup=False)
        raise typer.Exit(HAS_ERRORS)
    except (EvalError, PipelineError, RunError, PromptSetError, BundleError, UnknownDeployment, EngineError) as exc:
        raise _fail(str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        where = getattr(exc, "filename", None)
        raise _fail(f"cannot read or write {where or 'a file'}: {getattr(exc, 'strerror', None) or exc}")
