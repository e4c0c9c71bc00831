"""`caic labels` and `caic review`: how far a run's AI labels deserve trust, and the page where people settle the doubtful ones.

Registered on the app by `cai_lang.cli.app`. The figures are
`cai_lang.trust` (labels alone), `cai_lang.eval.comparisons` (`--gold`,
accuracy against people) and `cai_lang.review_app` (the page).
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from cai_lang.cli.common import fail
from cai_lang.errors import describe_os_error


def register(app: typer.Typer) -> None:
    app.command("labels")(labels)
    app.command("review")(review)


def _rows(path: Path) -> list[dict]:
    from cai_lang.trust.decisions import read_jsonl

    try:
        return read_jsonl(path)
    except (OSError, ValueError) as exc:
        raise fail(describe_os_error(exc, "read", path))


def labels(
    run_dir: Path = typer.Argument(..., help="A run folder holding rl_labels.jsonl."),
    quarantine: bool = typer.Option(False, "--quarantine", help="Record the flagged principles in run.json: training leaves them out."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="JSONL of human-judged comparisons: the feedback model's accuracy and calibration on them."),
    feedback_model: Optional[List[str]] = typer.Option(None, "--feedback-model", "-f", help="Judge for --gold (default: the run's feedback models); repeatable."),
    dialect: str = typer.Option("chat", "--dialect", help="How --gold's judge is prompted: `chat` or `text`."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Per-principle reliability of a run's AI labels: order flips, labels near 0.5, agreement; flags principles no better than chance."""
    from cai_lang.eval.comparisons import text_table
    from cai_lang.report.trust import RELIABILITY_HEADERS, reliability_rows
    from cai_lang.trust.reliability import flagged_items, reliability

    if dialect not in ("chat", "text"):
        raise fail(f"--dialect is chat or text, not {dialect!r}")
    label_path = run_dir / "rl_labels.jsonl"
    if not label_path.is_file() and (gold is None or quarantine):
        raise fail(f"{run_dir}: no rl_labels.jsonl (run `caic generate rl` or `caic train --phase rl` there first)")
    flagged: dict[str, str] = {}
    if label_path.is_file():
        table = reliability(_rows(label_path))
        flagged = flagged_items(table)
        entries = [t.to_dict() for t in table]
        if as_json:
            typer.echo(json.dumps({"items": entries, "flagged": flagged}, indent=2))
        else:
            typer.echo(text_table(RELIABILITY_HEADERS, reliability_rows(entries)))
            for item, why in flagged.items():
                typer.echo(f"flagged: {item}: {why}")
            if not flagged:
                typer.echo("flagged: none")
    if quarantine or gold is not None:
        _record(run_dir, flagged if quarantine else None, gold, feedback_model or [], dialect)


def _record(run_dir: Path, flagged: dict | None, gold: Path | None, judges: list[str], dialect: str) -> None:
    from cai_lang.cli.boundary import guarded
    from cai_lang.train.run.folder import now
    from cai_lang.train.run.session import Run

    def step() -> None:
        run = Run.open(run_dir)
        run.record.start_command(list(sys.argv))
        if flagged is not None:
            run.record.set("quarantine", {"items": sorted(flagged), "reasons": flagged, "at": now()})
            run.record.add_step("labels-quarantine", items=sorted(flagged))
            run.save()
            typer.echo(f"quarantined in {run_dir / 'run.json'}: {', '.join(sorted(flagged)) or 'nothing'}")
        if gold is not None:
            _gold(run, gold, judges, dialect)
        run.record.finish_command()
        run.save()

    guarded(step, nothing="nothing recorded")


def _gold(run, gold: Path, judges: list[str], dialect: str) -> None:
    from cai_lang.eval.comparisons import accuracy_table, run_comparisons

    if not gold.is_file():
        raise fail(f"cannot read {gold}: no such file")
    judges = judges or list((run.record.get("models") or {}).get("feedback") or [])
    if not judges:
        raise fail("--gold needs a judge: name it with --feedback-model")
    metrics = run_comparisons(run, run.recorded_bundle(), gold, judges, dialect=dialect, say=lambda text: typer.echo(f"caic labels: {text}", err=True))
    typer.echo(accuracy_table(metrics))


def review(
    run_dir: Path = typer.Argument(..., help="A run folder holding rl_pairs.jsonl and rl_labels.jsonl."),
    port: int = typer.Option(0, "--port", "-p", min=0, max=65535, help="Port to listen on (0: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but 127.0.0.1 exposes the page to the network."),
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Your name in the decisions file (default: the login name)."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write the decisions as trl preference rows to this file, print the agreement figures and exit."),
) -> None:
    """A local page to judge the least certain AI-labelled pairs (A, B, tie, skip); decisions go to RUN_DIR/review_decisions.jsonl."""
    if not (run_dir / "rl_pairs.jsonl").is_file():
        raise fail(f"{run_dir}: no rl_pairs.jsonl to review")
    if export is not None:
        return _export(run_dir, export)
    try:
        from cai_lang.review_app.app import serve
    except ImportError as exc:
        raise fail(f"the review page needs the `review` extra (pip install 'caic[review]'): {exc}")
    name = reviewer or getpass.getuser()
    try:
        serve(run_dir, name, host=host, port=port, announce=lambda url: print(url, flush=True))
    except (OSError, ValueError) as exc:
        raise fail(str(exc))
    except KeyboardInterrupt:
        pass


def _export(run_dir: Path, target: Path) -> None:
    from cai_lang.trust.decisions import DECISIONS, DecisionLog, agreement, decisions_as_preferences

    path = run_dir / DECISIONS
    if not path.is_file():
        raise fail(f"{run_dir}: no {DECISIONS} yet; review some pairs first")
    try:
        rows, counts = decisions_as_preferences(path)
    except ValueError as exc:
        raise fail(str(exc))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    typer.echo(f"wrote {target}: {counts['rows']} preference rows; not exported: {counts['tie']} ties, {counts['skip']} skips, "
               f"{counts['missing_pair']} decisions on missing pairs, {counts['changed_pair']} on pairs whose text changed")
    figures = agreement(DecisionLog(path).latest().values())
    for item, share in figures["items"].items():
        typer.echo(f"AI agrees with people, {item}: {share['value']:.3f} of {share['n']}" if share["n"] else f"{item}: no decisions")
    for pair, kappa in figures["kappa"].items():
        typer.echo(f"Cohen's kappa, {pair}: {'n/a' if kappa['kappa'] is None else format(kappa['kappa'], '.3f')} over {kappa['pairs']} pairs")
