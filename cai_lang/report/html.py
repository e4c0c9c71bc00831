"""Run reports: one self-contained HTML page per training run or evaluation, with matplotlib plots.

`write_training_report(run_dir)` is what every `caic train` ends with. It
reads only what the run folder already holds (`run.json`, the compiled
bundle, each model's `training_log.json` or `trainer_state.json`, the
preference models' `caic_training.json`, the preference label JSONL) and
writes `DIR/report.html` with:

- the constitution summary: name, version, deployment, the bundle's
  `content_hash`, every principle and rule with its tier, weight, phases and
  `detect` pattern, and the bundle's own `constitution.md`;
- the steps run (from run.json's command entries);
- loss curves of every trainer whose log it finds (SFT, preference model,
  DPO/RLOO/GRPO), and the other logged curves that matter (DPO's reward
  accuracy and margin, the online trainers' mean reward);
- the preference model's held-out pairwise accuracy and its logged accuracy;
- the label distributions per principle: a histogram of each item's
  P(A better) over the labelled pairs, how often each item (or tier)
  decided a label, and how many labels were exact (regex rules);
- the evaluation, when `caic eval` wrote into the same folder.

Plots are PNGs written next to the page (`report_plots/`) and embedded in it
as base64, so the page can be mailed or opened from anywhere without its
folder. Every section is optional: a run that stopped after SL data gets a
report with what there is. matplotlib runs with the Agg backend (no
display). The page building blocks (`HtmlPage`, `embed_png`,
`constitution_section`) are shared with `cai_lang.eval.run`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from cai_lang.train.run.layout import REPORT as REPORT_FILE
from cai_lang.train.run.layout import REPORT_PLOTS as PLOTS_DIR

LOG_FILES = ("training_log.json", "trainer_state.json")
# run.json output kinds that are trained model folders, and that hold preference labels.
MODEL_KINDS = ("model", "sft_model", "preference_model", "policy")
LABEL_KINDS = ("preference_labels",)

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 980px;
       color: #1d2330; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; border-bottom: 1px solid #d6dae3;
     padding-bottom: 0.2em; margin-top: 1.8em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d6dae3; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f1f3f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: "SFMono-Regular", Consolas, monospace; font-size: 0.88em; }
pre { background: #f6f7f9; padding: 0.8em; overflow-x: auto; white-space: pre-wrap; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #e3e6ec; }
figcaption { font-size: 0.88em; color: #555d6e; }
.note { background: #fff7e0; border-left: 4px solid #e0b020; padding: 0.5em 0.8em; }
.muted { color: #6b7385; font-size: 0.9em; }
"""


# ---------------------------------------------------------------- page building


class HtmlPage:
    """An HTML page built from escaped pieces; `render` gives the whole self-contained document."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str, css: str | None = None) -> None:
        cls = f' class="{css}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def raw(self, markup: str) -> None:
        """Markup built by this module (already escaped)."""
        self.parts.append(markup)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
        body = []
        for row in rows:
            cells = []
            for value in row:
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                cells.append(f'<td class="num">{html.escape(fmt(value))}</td>' if numeric else f"<td>{html.escape(fmt(value))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")

    def preformatted(self, text: str, summary: str | None = None) -> None:
        block = f"<pre>{html.escape(text)}</pre>"
        if summary:
            block = f"<details><summary>{html.escape(summary)}</summary>{block}</details>"
        self.parts.append(block)

    def figure(self, png: Path, caption: str) -> None:
        self.parts.append(
            f'<figure><img src="{embed_png(png)}" alt="{html.escape(caption, quote=True)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def render(self) -> str:
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{html.escape(self.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>\n" + "\n".join(self.parts) + "\n</body></html>\n"
        )

    def write(self, path: Path) -> Path:
        from cai_lang.train.run.folder import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self.render())
        return path


def fmt(value: Any) -> str:
    """A table cell: floats to four significant digits, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def embed_png(path: Path) -> str:
    """A `data:` URI of a PNG file, so the page needs nothing beside it."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": "caic"})
    pyplot().close(fig)
    return path


# ---------------------------------------------------------------- the constitution


def load_bundle_quietly(path: Path | None):
    """The bundle at `path`, or None if it is missing or does not load."""
    if path is None or not Path(path).exists():
        return None
    from cai_lang.codegen.bundle import BundleError, load_bundle

    try:
        return load_bundle(path)
    except BundleError:
        return None


def constitution_section(page: HtmlPage, bundle, bundle_path: Path | None = None) -> None:
    """The constitution summary: identity, content hash, items by tier, conflicts, and constitution.md."""
    page.heading("Constitution")
    info = bundle.constitution
    page.table(
        ["field", "value"],
        [
            ["constitution", info.name],
            ["version", info.version],
            ["description", info.description],
            ["deployment", bundle.deployment.name],
            ["content_hash", bundle.content_hash],
            ["compiler", bundle.compiler_version],
        ],
    )
    rows = []
    for entry in sorted((*bundle.principles, *bundle.rules), key=lambda e: (e.tier, -e.weight, e.id)):
        is_rule = hasattr(entry, "verdict")
        text = entry.statement if is_rule else (entry.description or entry.wording.comparison_question or entry.wording.critique_request)
        rows.append([entry.id, "rule" if is_rule else "principle", entry.tier, entry.weight, ", ".join(entry.phases), entry.applies.text, getattr(entry, "detect", None) or "", text])
    page.table(["id", "kind", "tier", "weight", "phases", "applies", "detect", "what it asks"], rows)
    if bundle.conflicts:
        page.table(["conflict", "resolution"], [[f"{c.left} vs {c.right}", c.resolution] for c in bundle.conflicts])
    if bundle_path is not None:
        markdown = Path(bundle_path).parent / "constitution.md"
        if markdown.is_file():
            page.preformatted(markdown.read_text(encoding="utf-8"), summary="constitution.md, as the trainer read it")


# ---------------------------------------------------------------- training logs


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


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for n, entry in enumerate(history):
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            steps.append(float(entry.get("step", n + 1)))
            values.append(float(value))
    return steps, values


# Curves worth plotting besides the loss, by trl's log keys; the first present of each group is drawn.
EXTRA_CURVES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reward accuracy (DPO: chosen reward above rejected)", ("rewards/accuracies",)),
    ("reward margin (DPO: chosen − rejected)", ("rewards/margins",)),
    ("preference-model accuracy (training batches)", ("accuracy", "train_accuracy")),
    ("mean reward (online RL; a labeller reward averages 0.5 within each group by construction)", ("reward", "rewards/constitution_labeller/mean", "reward_mean")),
    ("reward spread within a prompt's group (online RL)", ("reward_std",)),
    ("KL to the reference policy", ("kl", "objective/kl")),
)


def plot_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]], key_groups: Sequence[str], title: str, ylabel: str, path: Path) -> Path | None:
    """One line per model for the first key of `key_groups` its history has; None if no model has any."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    drawn = False
    for name, history in histories.items():
        for key in key_groups:
            steps, values = _series(history, key)
            if values:
                ax.plot(steps, values, marker="o" if len(values) < 30 else None, markersize=3, label=f"{name} ({key})")
                drawn = True
                break
    if not drawn:
        plt.close(fig)
        return None
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


# ---------------------------------------------------------------- preference labels


def read_label_rows(path: Path) -> list[dict[str, Any]]:
    """Preference labels (`PreferenceLabel.to_dict()` rows, or rows holding one under `label`) from a JSONL file."""
    from cai_lang.train.run.folder import read_rows

    labels = []
    try:
        rows = read_rows(path)
    except (OSError, ValueError):
        return []
    for row in rows:
        if isinstance(row.get("label"), dict):
            row = row["label"]
        if isinstance(row, dict) and "p_a" in row and isinstance(row.get("items"), dict):
            labels.append(row)
    return labels


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
        "items": items,
        "decided_by": dict(sorted(decided.items())),
        "values": {item: values for item, values in per_item.items()},
    }


def plot_label_distributions(summary: Mapping[str, Any], path: Path) -> Path | None:
    """A histogram of P(A better) per item, and the overall label, in one figure."""
    values: Mapping[str, list[float]] = summary["values"]
    if not values:
        return None
    plt = pyplot()
    names = sorted(values)
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.6 * rows), squeeze=False)
    bins = [i / 20 for i in range(21)]
    for ax, name in zip(axes.flat, names):
        ax.hist(values[name], bins=bins, color="#4c72b0", edgecolor="white")
        ax.set_title(f"{name} (n={len(values[name])})", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_xlabel("P(A better)", fontsize=8)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    return save_figure(fig, path)


def plot_bars(counts: Mapping[str, float], title: str, ylabel: str, path: Path, *, reference: float | None = None, limits: tuple[float, float] | None = None) -> Path | None:
    if not counts:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(counts) + 2), 3.2))
    names = list(counts)
    ax.bar(range(len(names)), [counts[n] for n in names], color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    if reference is not None:
        ax.axhline(reference, color="#c44e52", linestyle="--", linewidth=1)
    if limits:
        ax.set_ylim(*limits)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return save_figure(fig, path)


# ---------------------------------------------------------------- the training report


def _model_folders(run_dir: Path, record) -> dict[str, Path]:
    """Every model folder of the run: run.json's `model` outputs, then any other folder with a training log."""
    found: dict[str, Path] = {}
    for name, entry in (record.get("outputs") or {}).items():
        if entry.get("kind") in MODEL_KINDS:
            path = record.output_path(name)
            if path is not None and path.is_dir():
                found[name] = path
    known = {p.resolve() for p in found.values()}
    for log in sorted(run_dir.glob("*/training_log.json")) + sorted(run_dir.glob("*/trainer_state.json")):
        folder = log.parent
        if folder.resolve() not in known and folder.name != PLOTS_DIR:
            found[folder.name] = folder
            known.add(folder.resolve())
    return found


def _label_files(run_dir: Path, record) -> list[Path]:
    files = []
    for name, entry in (record.get("outputs") or {}).items():
        path = record.output_path(name)
        if path is not None and path.is_file() and (entry.get("kind") in LABEL_KINDS or (path.suffix == ".jsonl" and "label" in name)):
            files.append(path)
    if not files:
        files = sorted(p for p in run_dir.glob("*.jsonl") if "label" in p.name or "preference" in p.name)
    return files


def _metadata(folder: Path) -> dict[str, Any]:
    path = folder / "caic_training.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def write_training_report(run_dir: str | Path, record, target: str | Path | None = None) -> Path:
    """Write the training page (`target`, default `run_dir/report.html`; PNGs in `run_dir/report_plots/`).

    `record` is the run's `RunRecord`, as the command holds it; registering
    the page in it is the caller's (`cai_lang.train.phases.write_report`).
    """
    run_dir = Path(run_dir)
    plots = run_dir / PLOTS_DIR
    info = record.get("constitution") or {}
    page = HtmlPage(f"caic training report: {info.get('name', run_dir.name)}")
    page.paragraph(f"Run folder {run_dir.resolve()}; deployment {record.get('deployment') or '–'}; seed {record.get('seed')}.", "muted")

    bundle_path = record.output_path("bundle")
    bundle = load_bundle_quietly(bundle_path)
    if bundle is not None:
        constitution_section(page, bundle, bundle_path)
    else:
        page.heading("Constitution")
        page.paragraph(f"No loadable bundle was found in this run folder (content_hash in run.json: {record.get('content_hash') or 'none'}).", "note")

    _steps_section(page, record)
    folders = _model_folders(run_dir, record)
    histories = {name: read_log_history(folder) for name, folder in folders.items()}
    histories = {name: h for name, h in histories.items() if h}
    page.heading("Training curves")
    if histories:
        loss = plot_curves(histories, ("loss", "train_loss"), "training loss", "loss", plots / "loss.png")
        if loss:
            page.figure(loss, "Training loss of each trainer in this run, from its log history.")
        for n, (title, keys) in enumerate(EXTRA_CURVES):
            path = plot_curves(histories, keys, title, title.split(" (")[0], plots / f"curve_{n}.png")
            if path:
                page.figure(path, title)
        page.table(["model", "folder", "logged steps", "final loss"], [[name, str(folders[name].relative_to(run_dir) if folders[name].is_relative_to(run_dir) else folders[name]), len(h), _last(h, ("loss", "train_loss"))] for name, h in histories.items()])
    else:
        page.paragraph("No trainer log (training_log.json or trainer_state.json) was found in this run folder.", "note")

    _preference_section(page, folders, histories)
    _labels_section(page, run_dir, record, plots)
    _eval_section(page, run_dir, record)
    return page.write(Path(target) if target is not None else run_dir / REPORT_FILE)


def _last(history: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> float | None:
    for key in keys:
        _, values = _series(history, key)
        if values:
            return values[-1]
    return None


def _steps_section(page: HtmlPage, record) -> None:
    commands = record.get("commands") or []
    if not commands:
        return
    page.heading("What ran")
    rows = []
    for command in commands:
        argv = " ".join(command.get("argv") or [])
        steps = ", ".join(step.get("step", "?") for step in command.get("steps") or [])
        rows.append([argv, command.get("started"), command.get("finished") or "interrupted", command.get("status") or "", steps])
    page.table(["command", "started", "finished", "status", "steps"], rows)


def _preference_section(page: HtmlPage, folders: Mapping[str, Path], histories) -> None:
    rows = []
    for name, folder in folders.items():
        meta = _metadata(folder)
        if meta.get("kind") not in ("preference_model", "preference model"):
            continue
        metrics = meta.get("metrics") or {}
        rows.append([name, metrics.get("heldout_pairwise_accuracy"), metrics.get("heldout_rows"), metrics.get("train_loss"), (meta.get("data") or {}).get("train_rows")])
    if not rows:
        return
    page.heading("Preference model")
    page.table(["model", "held-out pairwise accuracy", "held-out pairs", "train loss", "train rows"], rows)
    page.paragraph(
        "Held-out pairwise accuracy: the share of held-out pairs whose preferred side (by the AI label) gets the higher "
        "reward. It measures agreement with the feedback model's labels, not with the constitution's intent.",
        "muted",
    )


def _labels_section(page: HtmlPage, run_dir: Path, record, plots: Path) -> None:
    files = _label_files(run_dir, record)
    labels = [label for path in files for label in read_label_rows(path)]
    if not labels:
        return
    summary = label_summary(labels)
    page.heading("Preference labels by principle")
    page.paragraph(
        f"{summary['labels']} labelled pairs from {', '.join(str(p.relative_to(run_dir)) for p in files)}; "
        f"{summary['ties']} exact ties (P = 0.5). A regex rule judges a pair exactly (P = 0 or 1) when one response "
        "matches and the other does not, and abstains otherwise."
    )
    figure = plot_label_distributions(summary, plots / "labels.png")
    if figure:
        page.figure(figure, "Distribution of each item's P(A better) over the pairs it judged.")
    page.table(
        ["item", "pairs judged", "mean P(A better)", "decisive (|P − 0.5| > 0.05)", "exact (regex)", "abstained"],
        [[item, s["labels"], s["mean_p_a"], s["decisive"], s["exact"], s["abstained"]] for item, s in summary["items"].items()],
    )
    decided = {key: float(value) for key, value in summary["decided_by"].items()}
    figure = plot_bars(decided, "what decided each label", "pairs", plots / "decided_by.png")
    if figure:
        page.figure(figure, "decided_by: the deciding tier (priority mode) or the drawn item (sample mode); None when nothing was decisive.")


def _eval_section(page: HtmlPage, run_dir: Path, record) -> None:
    path = record.output_path("eval_metrics")
    if path is None or not path.is_file():
        return
    metrics = json.loads(path.read_text(encoding="utf-8"))
    page.heading("Evaluation")
    page.paragraph(f"From {path.relative_to(run_dir) if path.is_relative_to(run_dir) else path}; the full evaluation report is beside it.")
    headers, rows = metrics_table_rows(metrics)
    page.table(headers, rows)


def metrics_table_rows(metrics: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The headline numbers as a table (model and baseline side by side)."""
    sides = [s for s in ("model", "baseline") if metrics.get(s)]
    rows = [
        ["violation rate (regex rules)", *[metrics[s]["violation_rate"] for s in sides]],
        ["violation rate (critiques)", *[metrics[s]["critique_violation_rate"] for s in sides]],
        ["refusal rate", *[metrics[s]["refusal"]["rate"] for s in sides]],
        ["partial refusal rate", *[metrics[s]["refusal"]["partial_rate"] for s in sides]],
    ]
    if any(metrics[s].get("benign") for s in sides):
        rows.append(["benign loss (nats/token)", *[(metrics[s].get("benign") or {}).get("loss") for s in sides]])
    if metrics.get("win_rate"):
        overall = metrics["win_rate"]["overall"]
        rows.append(["win rate vs baseline (overall)", overall["win_rate"], None])
    return ["metric", *sides], rows
