"""The training report: `write_training_report(run_dir)` writes `DIR/report.html`, leading with whether the run worked.

It reads only what the run folder already holds (`run.json`, the compiled
bundle, the SL data, the preference pairs and labels, each model's
`training_log.json` or `trainer_state.json`, the preference models'
`caic_training.json`, an evaluation written into the folder) and fills a
`ReportPage` in the order a reader asks: a summary first (what ran, on what,
the key numbers with what they mean, and a banner when the model is a random
test model), then worked samples (prompt → response → critique → revision;
pair → per-principle labels → decision), then the training curves (one metric
per panel, per-step logs only), then the label distributions, the
preference model and the evaluation, then what ran and the constitution.
Every section is optional: a run that stopped after SL data gets a report
of what there is. PNGs are written to the plots folder the run's layout
names (`report_plots/`) and embedded. `cai_lang.report.training.write_report`
calls it at the end of every `caic train` and registers the page.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cai_lang.report.constitution import constitution_section, load_bundle_quietly
from cai_lang.report.page import ReportPage, Section, percent, toy_model_notice
from cai_lang.report.plots import plot_bars, plot_histograms, plot_panels
from cai_lang.report.rows import rows_section
from cai_lang.report.trust import trust_sections

LOG_FILES = ("training_log.json", "trainer_state.json")
# run.json output kinds that are trained model folders, hold preference labels, or hold pairs.
MODEL_KINDS = ("model", "sft_model", "preference_model", "policy")
LABEL_KINDS = ("preference_labels",)
SAMPLES = 2
# Keys of a trainer's closing summary entry; an entry with one of them is not a training step.
SUMMARY_KEYS = ("train_runtime", "train_loss")

# Per-step curves worth a panel, by trl's log keys; the first key a history has is drawn.
CURVES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("training loss", ("loss",)),
    ("DPO reward accuracy (chosen above rejected)", ("rewards/accuracies",)),
    ("DPO reward margin (chosen − rejected)", ("rewards/margins",)),
    ("preference-model accuracy (training batches)", ("accuracy", "train_accuracy")),
    ("mean reward (online RL)", ("reward", "rewards/constitution_labeller/mean", "reward_mean")),
    ("reward spread within a prompt's group", ("reward_std",)),
    ("KL to the reference policy", ("kl", "objective/kl")),
    ("learning rate", ("learning_rate",)),
)


# ---------------------------------------------------------------- reading the folder


def read_log_history(folder: Path) -> list[dict[str, Any]]:
    """A trainer's log history from `training_log.json` or `trainer_state.json` in `folder` (empty if neither)."""
    for name in LOG_FILES:
        path = Path(folder) / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            history = data.get("log_history") if isinstance(data, dict) else None
            if isinstance(history, list):
                return [entry for entry in history if isinstance(entry, dict)]
    return []


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def step_series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of `key` over the per-step entries (the closing summary is left out)."""
    steps, values = [], []
    for n, entry in enumerate(history):
        if any(k in entry for k in SUMMARY_KEYS):
            continue
        if _number(entry.get(key)):
            steps.append(float(entry.get("step", n + 1)))
            values.append(float(entry[key]))
    return steps, values


def final_value(history: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> float | None:
    """The last logged value of the first of `keys` found, summary entries included."""
    for entry in reversed(history):
        for key in keys:
            if _number(entry.get(key)):
                return float(entry[key])
    return None


def read_label_rows(path: Path) -> list[dict[str, Any]]:
    """Preference labels (`PreferenceLabel.to_dict()` rows, or rows holding one under `label`) from a JSONL file."""
    labels = []
    for row in _rows(path):
        if isinstance(row.get("label"), dict):
            row = row["label"]
        if isinstance(row, dict) and "p_a" in row and isinstance(row.get("items"), dict):
            labels.append(row)
    return labels


def _rows(path: Path | None) -> list[dict[str, Any]]:
    from cai_lang.train.run.folder import read_rows

    if path is None or not path.is_file():
        return []
    try:
        return read_rows(path)
    except (OSError, ValueError):
        return []


def label_summary(labels: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per item: how many labels it judged, its mean P(A better), and how often it decided the label."""
    per_item: dict[str, list[float]] = defaultdict(list)
    exact: Counter = Counter()
    abstained: Counter = Counter()
    decided = Counter(str(label.get("decided_by")) for label in labels)
    for label in labels:
        for item, p in label["items"].items():
            per_item[item].append(float(p))
        exact.update(label.get("exact") or ())
        abstained.update(label.get("abstained") or ())
    items = {
        item: {
            "labels": len(values),
            "mean_p_a": sum(values) / len(values),
            "decisive": sum(abs(v - 0.5) > 0.05 for v in values),
            "exact": exact.get(item, 0),
            "abstained": abstained.get(item, 0),
        }
        for item, values in sorted(per_item.items())
    }
    for item, count in abstained.items():
        items.setdefault(item, {"labels": 0, "mean_p_a": None, "decisive": 0, "exact": 0, "abstained": count})
    return {
        "labels": len(labels),
        "ties": sum(float(label["p_a"]) == 0.5 for label in labels),
        "decisive": sum(abs(float(label["p_a"]) - 0.5) > 0.05 for label in labels),
        "items": items,
        "decided_by": dict(sorted(decided.items())),
        "values": {item: values for item, values in per_item.items()},
    }


def _model_folders(run_dir: Path, record, plots: Path) -> dict[str, Path]:
    """Every model folder of the run: run.json's model outputs, then any other folder with a training log."""
    found: dict[str, Path] = {}
    for name, entry in (record.get("outputs") or {}).items():
        if entry.get("kind") in MODEL_KINDS:
            path = record.output_path(name)
            if path is not None and path.is_dir():
                found[name] = path
    known = {p.resolve() for p in found.values()}
    for log in sorted(run_dir.glob("*/training_log.json")) + sorted(run_dir.glob("*/trainer_state.json")):
        folder = log.parent
        if folder.resolve() not in known and folder.resolve() != plots.resolve():
            found[folder.name] = folder
            known.add(folder.resolve())
    return found


def _outputs_of_kind(run_dir: Path, record, kinds: Sequence[str], fallback: str) -> list[Path]:
    files = []
    for name, entry in (record.get("outputs") or {}).items():
        path = record.output_path(name)
        if path is not None and path.is_file() and entry.get("kind") in kinds:
            files.append(path)
    return files or sorted(p for p in run_dir.glob(fallback))


def _metadata(folder: Path) -> dict[str, Any]:
    path = folder / "caic_training.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _relative(path: Path, run_dir: Path) -> str:
    return str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)


def _base_models(record, folders: Mapping[str, Path]) -> list[str]:
    models = [entry.get("base_model") for entry in (record.get("outputs") or {}).values() if entry.get("base_model")]
    for command in record.get("commands") or []:
        argv = command.get("argv") or []
        models += [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("--model", "-m", "--feedback-model")]
    return [*dict.fromkeys(models), *(str(f) for f in folders.values())]


# ---------------------------------------------------------------- the page


def write_training_report(run_dir: str | Path, record, target: str | Path, plots: str | Path) -> Path:
    """Write the training page at `target`, its PNGs in `plots` (the run folder's layout names both).

    `record` is the run's `RunRecord`, as the command holds it; registering
    the page in it is the caller's (`cai_lang.report.training.write_report`).
    """
    run_dir, plots = Path(run_dir), Path(plots)
    info = record.get("constitution") or {}
    bundle_path = record.output_path("bundle")
    bundle = load_bundle_quietly(bundle_path)
    folders = _model_folders(run_dir, record, plots)
    histories = {name: h for name, h in ((n, read_log_history(f)) for n, f in folders.items()) if h}
    sl_rows = [r for path in _outputs_of_kind(run_dir, record, ("sl_data",), "sl_data*.jsonl") for r in _rows(path)]
    pair_files = _outputs_of_kind(run_dir, record, ("pairs",), "*pairs*.jsonl")
    pairs = {str(r.get("id")): r for path in pair_files for r in _rows(path)}
    label_files = _outputs_of_kind(run_dir, record, LABEL_KINDS, "*label*.jsonl")
    labels = [label for path in label_files for label in read_label_rows(path)]
    models = _base_models(record, folders)

    name = info.get("name") or (bundle.constitution.name if bundle else run_dir.name)
    page = ReportPage(
        f"caic training report: {name}",
        f"Constitution {name}{' ' + info['version'] if info.get('version') else ''}, deployment "
        f"{record.get('deployment') or '–'}, base model {models[0] if models else '–'}"
        f"{'' if record.get('seed') is None else ', seed ' + str(record.get('seed'))}; "
        f"run folder {run_dir.resolve()}.",
    )
    toy = toy_model_notice(models)
    if toy:
        page.notice("Random test model.", toy)
    _summary(page.section("Summary"), record, sl_rows, labels, folders, histories, run_dir)
    _samples(page.section("Samples"), sl_rows, labels, pairs)
    _curves(page.section("Training curves"), run_dir, folders, histories, plots)
    rows_section(page.section("Rows trained"), run_dir, record)
    _labels(page.section("Preference labels by principle"), run_dir, label_files, labels, plots)
    trust_sections(page, run_dir, labels, record, plots)  # issue 23: reliability, accuracy against people, human review
    _preference_models(page.section("Preference model"), folders)
    _evaluation(page.section("Evaluation"), run_dir, record)
    _commands(page.section("What ran"), record)
    section = page.section("Constitution")
    if bundle is not None:
        constitution_section(section, bundle, bundle_path)
    else:
        section.note(f"No loadable bundle was found in this run folder (content_hash in run.json: {record.get('content_hash') or 'none'}).")
    return page.write(Path(target))


def _summary(section: Section, record, sl_rows, labels, folders, histories, run_dir: Path) -> None:
    commands = record.get("commands") or []
    steps = [step.get("step", "?") for command in commands for step in command.get("steps") or []]
    status = commands[-1].get("status") or ("interrupted" if not commands[-1].get("finished") else "done") if commands else None
    cards: list[tuple] = []
    if commands:
        cards.append(("last command", status or "unknown", f"steps run: {', '.join(dict.fromkeys(steps)) or 'none'}", "good" if status == "done" else "bad"))
    if sl_rows:
        revised = sum(bool(row.get("rounds")) for row in sl_rows)
        cards.append(("SL-CAI rows", f"{len(sl_rows)}", f"{revised} revised by at least one critique round; the rest kept the first response"))
    if labels:
        s = label_summary(labels)
        cards.append(("labelled pairs", f"{s['labels']}", f"{percent(s['decisive'] / s['labels'])} decisive (|P(A better) − 0.5| > 0.05); labels near 0.5 teach little",
                      "bad" if s["decisive"] == 0 else None))
    for name, history in histories.items():
        loss = final_value(history, ("train_loss", "loss"))
        if loss is not None:
            cards.append((f"{name}: final loss", loss, "the trainer's mean training loss (lower fits the data better)"))
    for name, folder in folders.items():
        accuracy = (_metadata(folder).get("metrics") or {}).get("heldout_pairwise_accuracy")
        if accuracy is not None:
            cards.append((f"{name}: held-out accuracy", accuracy, "share of held-out pairs ranked as the AI label ranks them; 0.5 is chance",
                          "good" if accuracy > 0.6 else None))
        reward = final_value(histories.get(name, ()), ("rewards/accuracies",))
        if reward is not None:
            cards.append((f"{name}: reward accuracy", reward, "DPO: share of pairs where the chosen response out-scores the rejected one"))
    metrics_path = record.output_path("eval_metrics")
    if metrics_path is not None and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        cards.append(("eval: violation rate", percent(metrics["model"]["violation_rate"]), "share of responses breaking a regex rule (lower is better)"))
    section.cards(cards)
    if not cards:
        section.note("This folder holds no finished step yet.")


def _samples(section: Section, sl_rows, labels, pairs) -> None:
    revised = [row for row in sl_rows if row.get("rounds")] or list(sl_rows)
    for row in revised[:SAMPLES]:
        steps = [("prompt", row.get("prompt")), ("first response", row.get("initial_response"))]
        for n, round_ in enumerate(row.get("rounds") or [], 1):
            steps.append((f"critique {n} ({round_.get('principle')})", round_.get("critique")))
            steps.append((f"revision {n}", "(nothing to fix: kept)" if round_.get("nothing_to_fix") else round_.get("revision")))
        steps.append(("trained on", row.get("final_response")))
        section.sample(f"SL-CAI: {row.get('id')} ({row.get('kind')})", steps, f"context {json.dumps(row.get('context') or {}, ensure_ascii=False)}")
    for label in labels[:SAMPLES]:
        pair = pairs.get(str(label.get("pair_id") or label.get("id"))) or {}
        judged = sorted(label["items"].items(), key=lambda kv: -abs(kv[1] - 0.5))
        verdicts = "\n".join(f"{item}: P(A better) = {p:.3f}{' (exact, regex)' if item in (label.get('exact') or ()) else ''}" for item, p in judged)
        if label.get("abstained"):
            verdicts += f"\nabstained: {', '.join(label['abstained'])}"
        p = float(label["p_a"])
        decision = f"P(A better) = {p:.3f}: " + ("a tie" if p == 0.5 else f"prefer {'A' if p > 0.5 else 'B'}")
        decision += f"; decided by {label['decided_by']}" if label.get("decided_by") is not None else "; no tier was decisive"
        section.sample(f"RL-CAI pair: {label.get('pair_id')}", [
            ("prompt", pair.get("prompt", "(pair file not found)")), ("response A", pair.get("response_a")),
            ("response B", pair.get("response_b")), ("per-principle labels", verdicts), ("decision", decision),
        ])
    if not section.blocks:
        section.paragraph("No SL-CAI rows or preference labels in this run folder.", "muted")


def _curves(section: Section, run_dir: Path, folders, histories, plots: Path) -> None:
    if not histories:
        section.note("No trainer log (training_log.json or trainer_state.json) was found in this run folder.")
        return
    # Each trainer's loss measures something different (token loss, pairwise loss, DPO loss): a panel each.
    panels = {f"{name}: training loss": {name: step_series(h, "loss")} for name, h in histories.items()}
    panels |= {title: {name: s for name, h in histories.items() if (s := _first(h, keys))[1]} for title, keys in CURVES[1:]}
    figure = plot_panels(panels, plots / "curves.png")
    if figure:
        section.figure(figure, "Training curves: one panel per metric, one line per trainer, from each trainer's per-step log.")
    else:
        section.note("The trainers logged no per-step values (only their closing summary): the run was shorter than "
                     "--logging-steps. Pass --logging-steps 1 for a point per step.")
    section.table(["model", "folder", "logged steps", "final loss"],
                  [[name, _relative(folders[name], run_dir), len(step_series(h, "loss")[0]), final_value(h, ("train_loss", "loss"))] for name, h in histories.items()])


def _first(history, keys) -> tuple[list[float], list[float]]:
    for key in keys:
        series = step_series(history, key)
        if series[1]:
            return series
    return [], []


def _labels(section: Section, run_dir: Path, files, labels, plots: Path) -> None:
    if not labels:
        return
    summary = label_summary(labels)
    section.paragraph(
        f"{summary['labels']} labelled pairs from {', '.join(_relative(p, run_dir) for p in files)}; {summary['ties']} exact ties "
        "(P = 0.5). A regex rule judges a pair exactly (P = 0 or 1) when one response matches and the other does not, and abstains otherwise."
    )
    figure = plot_histograms(summary["values"], "P(A better)", plots / "labels.png")
    if figure:
        section.figure(figure, "Distribution of each item's P(A better) over the pairs it judged.")
    section.table(
        ["item", "pairs judged", "mean P(A better)", "decisive (|P − 0.5| > 0.05)", "exact (regex)", "abstained"],
        [[item, s["labels"], s["mean_p_a"], s["decisive"], s["exact"], s["abstained"]] for item, s in summary["items"].items()],
    )
    decided = {("nothing decisive" if key == "None" else f"tier {key}" if key.isdigit() else key): float(v) for key, v in summary["decided_by"].items()}
    figure = plot_bars(decided, "what decided each label", "pairs", plots / "decided_by.png", limits=None)
    if figure:
        section.figure(figure, "What decided each label: the deciding tier (priority mode) or the drawn item (sample mode).")
    else:
        section.paragraph("What decided each label: " + ", ".join(f"{k}: {v:g} pairs" for k, v in decided.items()) + ".")


def _preference_models(section: Section, folders: Mapping[str, Path]) -> None:
    rows = []
    for name, folder in folders.items():
        meta = _metadata(folder)
        if meta.get("kind") not in ("preference_model", "preference model"):
            continue
        metrics = meta.get("metrics") or {}
        rows.append([name, metrics.get("heldout_pairwise_accuracy"), metrics.get("heldout_rows"), metrics.get("heldout_accuracy_decided"),
                     metrics.get("heldout_decided_rows"), metrics.get("train_loss"), (meta.get("data") or {}).get("train_rows")])
    if rows:
        section.table(["model", "held-out accuracy, all rows", "held-out pairs", "accuracy on decided rows (|q − 0.5| > 0.05)",
                       "decided pairs", "train loss", "train rows"], rows)
        section.paragraph("Held-out pairwise accuracy: the share of held-out pairs whose preferred side (by the AI label) gets the higher "
                          "reward. It measures agreement with the feedback model's labels, not with the constitution's intent.", "muted")


def _evaluation(section: Section, run_dir: Path, record) -> None:
    path = record.output_path("eval_metrics")
    if path is None or not path.is_file():
        return
    from cai_lang.report.evaluation import metrics_table_rows

    metrics = json.loads(path.read_text(encoding="utf-8"))
    section.paragraph(f"From {_relative(path, run_dir)}; the full evaluation report is beside it.")
    headers, rows = metrics_table_rows(metrics)
    section.table(headers, rows)


def _commands(section: Section, record) -> None:
    rows = []
    for command in record.get("commands") or []:
        steps = ", ".join(step.get("step", "?") for step in command.get("steps") or [])
        rows.append([" ".join(command.get("argv") or []), command.get("started"), command.get("finished") or "interrupted", command.get("status") or "", steps])
    if rows:
        section.table(["command", "started", "finished", "status", "steps"], rows)
