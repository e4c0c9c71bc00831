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

import typer

from cai_lang.cli.common import HAS_ERRORS, quiet_libraries
from cai_lang.cli.common import fail as _fail
from cai_lang.cli.options import build, from_configs
from cai_lang.eval.run import EvalOptions  # a dataclass; the evaluation's heavy imports wait for run_eval


def register(app: typer.Typer) -> None:
    """Add `caic eval` to the app."""
    app.command("eval")(evaluate)


@from_configs(EvalOptions)
def evaluate(values: dict) -> None:
    """Evaluate a model against a constitution: violation, win and refusal rates on held-out prompts, with a report."""
    from cai_lang.eval.run import run_eval

    options = build(EvalOptions, values, argv=list(sys.argv))
    if options.benign is not None and not options.benign.is_file():
        raise _fail(f"cannot read {options.benign}: no such file")
    if not options.source.exists():
        raise _fail(f"cannot read {options.source}: no such file or folder")
    metrics = _run(lambda say: run_eval(options, say))
    model_side = metrics["model"]
    line = f"{options.output}: violation rate {_pct(model_side['violation_rate'])} (regex rules), refusal rate {_pct(model_side['refusal']['rate'])}"
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
    from cai_lang.train.run.folder import RunError
    from cai_lang.train.run.model_specs import PipelineError
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
    finally:
        from cai_lang.train.run.lock import release_all

        release_all()  # the folder's writer lock lasts exactly as long as the command
