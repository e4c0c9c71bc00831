"""The evaluation's page: what `caic eval` shows of its metrics (`cai_lang.eval.run` computes them).

One self-contained HTML page built from the metrics, the judged responses
and the bundle, with the headline table (model and baseline side by side),
violation and refusal bars, the benign loss, win rates against the
baseline, example responses and the constitution. Where the page goes is
the run folder's (`cai_lang.train.run.layout`): `report.html` in a folder
of its own, `eval_report.html` beside a training report. The page blocks
are `cai_lang.report.html`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from cai_lang.report.html import HtmlPage, constitution_section, metrics_table_rows, plot_bars, pyplot, save_figure


def write_eval_report(target: Path, plots: Path, metrics: Mapping[str, Any], rows_by_side: Mapping[str, Sequence[dict]], bundle, bundle_path: Path) -> Path:
    """The evaluation page at `target` (PNGs in `plots`): headline table, plots, per-item tables, example responses, the constitution."""
    sides = [s for s in ("model", "baseline") if metrics.get(s)]
    page = HtmlPage(f"caic evaluation: {metrics['constitution']['name']} ({metrics['deployment']})")
    prompts = metrics["prompts"]
    page.paragraph(
        f"Model {metrics['model']['id']}" + (f"; baseline {metrics['baseline']['id']}" if metrics.get("baseline") else "")
        + f"; judge and critic {metrics['feedback_model']}. {prompts['count']} prompts ({', '.join(f'{n} {k}' for k, n in prompts['by_kind'].items())}) "
        f"from {', '.join(prompts['sources'])} (split {prompts['split']}), {prompts['samples_per_prompt']} sample(s) each; bundle {metrics['content_hash']}.",
        "muted",
    )
    headers, rows = metrics_table_rows(metrics)
    page.heading("Summary")
    page.table(headers, rows)
    for side in sides:
        critic = metrics["critic"].get(side) or {}
        if critic.get("critiques") and not critic.get("informative"):
            page.paragraph(
                f"The critic answered {critic['nothing_to_fix']} of {critic['critiques']} critique requests on the {side}'s responses "
                f"with the early-stop reply ({critic.get('early_stop_reply')!r}). A critic that always or never says so cannot tell a "
                "good response from a bad one: the critique-based violation rates below are uninformative, not findings.",
                "note",
            )
    items = metrics["model"]["items"]
    uninformative = any(
        (metrics["critic"].get(s) or {}).get("critiques") and not (metrics["critic"].get(s) or {}).get("informative") for s in sides
    )

    def label(item: str, info: Mapping[str, Any]) -> str:
        # The bar of a critique-judged item says nothing when the critic never (or always) found nothing to fix.
        return f"{item}\n(critic uninformative)" if info["method"] == "critique" and uninformative else item

    grouped = {label(item, info): [metrics[s]["items"][item]["violation_rate"] or 0.0 for s in sides] for item, info in items.items() if info["judged"]}
    figure = _grouped_bars(grouped, sides, "violation rate by item", plots / "violations.png")
    if figure:
        page.figure(figure, "Share of responses that violate each principle or rule (regex rules exactly, others by critique), where the item applies.")
    refusals = {kind: [metrics[s]["refusal"]["by_kind"].get(kind, {}).get("rate", 0.0) for s in sides] for kind in metrics["model"]["refusal"]["by_kind"]}
    figure = _grouped_bars(refusals, sides, "refusal rate by prompt kind", plots / "refusals.png")
    if figure:
        page.figure(figure, "Share of responses that decline the request outright (refusal detector), by prompt kind.")
    if any((metrics[s].get("benign") or {}).get("loss") is not None for s in sides):
        figure = _grouped_bars({"benign loss": [(metrics[s].get("benign") or {}).get("loss") or 0.0 for s in sides]}, sides, "benign held-out loss (nats/token)", plots / "benign_loss.png", unit=False)
        if figure:
            page.figure(figure, "Mean per-token loss on the replies of held-out benign dialogues (lower is better).")
    page.heading("Per principle and rule")
    page.table(
        ["item", "kind", "tier", "how judged", *[f"{s}: judged" for s in sides], *[f"{s}: violation rate" for s in sides]],
        [[item, info["kind"], info["tier"], info["method"] or "not judged (no critique wording)", *[metrics[s]["items"][item]["judged"] for s in sides], *[metrics[s]["items"][item]["violation_rate"] for s in sides]] for item, info in items.items()],
    )
    if metrics.get("win_rate"):
        wins = metrics["win_rate"]
        page.heading("Win rate against the baseline")
        figure = plot_bars({"overall": wins["overall"]["win_rate"] or 0.5, **{i: s["win_rate"] or 0.5 for i, s in wins["items"].items()}}, "P(model better than baseline)", "win rate", plots / "win_rate.png", reference=0.5, limits=(0, 1))
        if figure:
            page.figure(figure, "Mean P(model's response better) per item and overall; 0.5 (dashed) is a draw. Both orders are scored.")
        page.table(
            ["item", "pairs", "win rate", "wins", "ties", "losses"],
            [["overall (priority aggregation)", *[wins["overall"][k] for k in ("pairs", "win_rate", "wins", "ties", "losses")]]]
            + [[i, *[s[k] for k in ("pairs", "win_rate", "wins", "ties", "losses")]] for i, s in wins["items"].items()],
        )
    page.heading("Example responses")
    examples = []
    for row in list(rows_by_side.get("model", ()))[:12]:
        flagged = [i for i, v in row.get("violations", {}).items() if v and items[i]["method"] == "regex"]
        examples.append([row["prompt_id"], row["prompt"], row["response"], ", ".join(flagged) or "–", "partial" if (row.get("refusal") or {}).get("partial") else ("yes" if row.get("refusal") else "–")])
    page.table(["prompt", "user", "model's response", "regex violations", "refusal"], examples)
    page.paragraph("Every response, with its critiques and judgements, is in responses.jsonl.", "muted")
    constitution_section(page, bundle, bundle_path)
    return page.write(target)


def _grouped_bars(values: Mapping[str, Sequence[float]], sides: Sequence[str], title: str, path: Path, unit: bool = True) -> Path | None:
    if not values:
        return None
    plt = pyplot()
    names = list(values)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(names) + 2), 3.3))
    width = 0.8 / len(sides)
    colours = ("#4c72b0", "#dd8452")
    for k, side in enumerate(sides):
        xs = [i + (k - (len(sides) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, [values[n][k] for n in names], width=width, label=side, color=colours[k % 2])
    ax.set_xticks(range(len(names)), names, rotation=15, ha="right", fontsize=8)
    if unit:
        ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
