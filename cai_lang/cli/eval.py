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

from cai_lang.cli.boundary import guarded
from cai_lang.cli.common import fail as _fail
from cai_lang.cli.common import require_train_extra
from cai_lang.cli.config_option import with_config_file
from cai_lang.cli.options import build, from_configs
from cai_lang.eval.run import EvalOptions  # a dataclass; the evaluation's heavy imports wait for run_eval


def register(app: typer.Typer) -> None:
    """Add `caic eval` to the app."""
    app.command("eval")(with_config_file(evaluate, (EvalOptions,)))


@from_configs(EvalOptions)
def evaluate(values: dict) -> None:
    """Evaluate a model against a constitution: violation, win and refusal rates on held-out prompts, with a report."""
    options = build(EvalOptions, values, argv=list(sys.argv))
    require_train_extra("eval", (options.model, options.baseline, options.feedback_model))
    from cai_lang.eval.run import run_eval

    if options.comparisons is not None:
        return _comparisons(options)
    if options.benign is not None and not options.benign.is_file():
        raise _fail(f"cannot read {options.benign}: no such file")
    if not options.source.exists():
        raise _fail(f"cannot read {options.source}: no such file or folder")
    metrics = _run(lambda reporter: run_eval(options, reporter.phase, reporter))
    model_side = metrics["model"]
    line = f"{options.output}: violation rate {_pct(model_side['violation_rate'])} (regex rules), refusal rate {_pct(model_side['refusal']['rate'])}"
    if model_side.get("benign"):
        line += f", benign loss {model_side['benign']['loss']:.4f}"
    if metrics.get("win_rate"):
        line += f", win rate vs baseline {_pct(metrics['win_rate']['overall']['win_rate'])}"
    typer.echo(line)
    if model_side.get("by_style"):
        # Red-team files (`caic redteam`): attack success and over-refusal side by side, per attack style.
        styles = "; ".join(f"{name} {_pct(g['violation_rate'])} violating, {_pct(g['refusal_rate'])} refused" for name, g in model_side["by_style"].items())
        typer.echo(f"by style: {styles}")


def _comparisons(options: EvalOptions) -> None:
    """`--comparisons`: only the judge's accuracy against people, printed as a table."""
    from cai_lang.eval.comparisons import accuracy_table, comparisons_eval

    if not options.comparisons.is_file():
        raise _fail(f"cannot read {options.comparisons}: no such file")
    if not options.source.exists():
        raise _fail(f"cannot read {options.source}: no such file or folder")
    metrics = _run(lambda reporter: comparisons_eval(options, reporter.phase))
    typer.echo(accuracy_table(metrics))
    typer.echo(f"{options.output}: accuracy {_pct(metrics['overall']['accuracy']['value'])} on {metrics['rows']} comparisons, "
               f"ECE {metrics['overall']['ece']:.3f}; right most often: {metrics['best_item']}")


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _run(step):
    """Run the evaluation with the progress display of `caic train` (stage lines; answers and critiques
    counted with a rate and an ETA) on stderr, inside the commands' one error boundary."""
    from cai_lang.cli.progress import ProgressReporter

    reporter = ProgressReporter()
    return guarded(lambda: step(reporter), on_error=reporter.stop, nothing="nothing evaluated")
