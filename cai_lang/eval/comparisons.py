"""Run the accuracy-against-people measurement in a folder: `caic eval --comparisons FILE` and `caic labels RUN_DIR --gold FILE`.

The feedback model(s) judge every comparison of the file (`eval.gold`);
the folder gets `comparisons.json` (every number), `plots/reliability.png`
and `comparisons_report.html`, all registered in run.json beside whatever
the folder already holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

COMPARISONS = "comparisons.json"
COMPARISONS_REPORT = "comparisons_report.html"
PLOTS = "plots"


def run_comparisons(run, bundle, file: Path, judges: Sequence[str], *, dialect: str = "chat", seed: int = 0, margin: float = 0.05,
                    device: str = "auto", batch_size: int = 32, say: Callable[[str], None] | None = None, backends=None) -> dict[str, Any]:
    """Judge `file` with the `judges` (an ensemble when several) against `bundle`; write and register the results in `run`.

    `backends` (one per judge) replaces opening the judges, for callers that hold them already.
    """
    from cai_lang.eval.gold import judge_comparisons, load_comparisons, summary
    from cai_lang.eval.run import EvalError
    from cai_lang.report.trust import write_comparisons_report
    from cai_lang.train.rl.aggregate import Aggregator
    from cai_lang.train.rl.labeller import ComparisonLabeller, FeedbackModel
    from cai_lang.train.run.folder import write_atomic
    from cai_lang.train.run.model_specs import ServerSettings, model_identity, open_backend

    say = say or (lambda text: None)
    try:
        rows = load_comparisons(file)
    except ValueError as exc:
        raise EvalError(str(exc)) from exc
    opened = list(backends) if backends is not None else [open_backend(s, ServerSettings(), device=device, batch_size=batch_size) for s in judges]
    try:
        say(f"judging {len(rows)} comparisons from {file} with {', '.join(judges)}")
        labeller = ComparisonLabeller(bundle, [FeedbackModel(b, dialect) for b in opened])
        scores = judge_comparisons(rows, labeller, Aggregator(bundle, "priority", margin=margin, seed=seed), seed)
    finally:
        if backends is None:
            for backend in opened:
                backend.close()
    metrics = {
        "format": 1, "file": str(file), "rows": len(rows), "judge": ", ".join(model_identity(j) for j in judges), "dialect": dialect,
        "seed": seed, "content_hash": bundle.content_hash, "constitution": bundle.constitution.name, **summary(scores),
    }
    import json

    out = run.folder
    write_atomic(out / COMPARISONS, json.dumps(metrics, indent=2) + "\n")
    page = write_comparisons_report(out / COMPARISONS_REPORT, out / PLOTS, metrics)
    overall = metrics["overall"]
    run.record.add_output("comparisons", out / COMPARISONS, "feedback_accuracy", rows=len(rows), file=str(file),
                          accuracy=overall["accuracy"]["value"], ece=overall["ece"])
    run.record.add_output("comparisons_report", page, "report")
    run.record.add_step("comparisons", rows=len(rows), judges=[model_identity(j) for j in judges])
    run.save()
    return metrics


def comparisons_eval(options, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """`caic eval FILE -m M --comparisons C -o DIR`: the judge (`--feedback-model`, else `--model`) measured on C in DIR."""
    from cai_lang.train.run.model_specs import check_model
    from cai_lang.train.run.session import Run

    judge = options.feedback_model or options.model
    check_model(judge)
    options.output.mkdir(parents=True, exist_ok=True)
    run = Run.open(options.output)
    bundle, _ = run.bundle_for(options.source, options.deployment)
    run.record.start_command(options.argv)
    run.record_bundle(options.source, options.seed, keep_first=True)
    run.save()
    metrics = run_comparisons(run, bundle, options.comparisons, [judge], dialect=options.dialect, seed=options.seed,
                              device=options.device, batch_size=options.batch_size, say=say)
    run.record.finish_command()
    run.save()
    return metrics


def accuracy_table(metrics: dict[str, Any]) -> str:
    """The accuracy/calibration table as aligned text lines."""
    from cai_lang.report.trust import GOLD_HEADERS, gold_rows

    return text_table(GOLD_HEADERS, gold_rows(metrics))


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [headers, *rows]]
    return "\n".join(lines)
