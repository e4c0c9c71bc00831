"""The training page of a run folder, written and registered: what every `caic train` ends with.

`write_report(run)` takes the `Run` a command holds (`cai_lang.train.run.session`),
writes the page where the run folder's layout puts it (`report.html`, or
`training_report.html` when an evaluation's page holds that name) with
`cai_lang.report.html.write_training_report`, and registers it in run.json
as `training_report`. A report that fails is a warning, not a failed run.
"""

from __future__ import annotations

from pathlib import Path


def write_report(run, reporter=None) -> Path | None:
    """The run's training page (`cai_lang.report.html`), registered in run.json as `training_report`.

    A report that fails is a warning, not a failed run: the models are saved already.
    """
    from cai_lang.report.html import write_training_report

    target = run.record.page("training")
    try:
        path = Path(write_training_report(run.folder, run.record, target, run.layout.report_plots))
    except Exception as exc:  # noqa: BLE001 - whatever the report does wrong, the trained models stand
        if reporter is not None:
            reporter.phase(f"warning: {target.name} was not written: {type(exc).__name__}: {exc}")
        return None
    run.record.add_output("training_report", path, "report", plots=run.layout.report_plots.name)
    try:
        run.save()
    except OSError:
        pass  # the page is written; a run.json that cannot be updated should not fail the run
    if reporter is not None:
        reporter.phase(f"report: {path}")
    return path
