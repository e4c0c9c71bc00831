"""The evaluation report `caic eval` writes: `write_eval_report` fills a `ReportPage` from metrics.json's numbers and the responses.

Like the training report it leads with the answer: the headline rates as
cards with what each means (and a warning when the critic is uninformative
or the model a random test model), then sample responses side by side with
the baseline's and the critiques, then one plot per question (violations by
item, refusals by prompt kind, benign loss, win rate), the per-item table,
and the constitution last. `metrics_table_rows` is the headline table the
training report reuses when an evaluation was written into its folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cai_lang.report.constitution import constitution_section
from cai_lang.report.page import ReportPage, percent, toy_model_notice
from cai_lang.report.plots import grouped_bars, plot_bars

SAMPLES = 4


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
        rows.append(["win rate vs baseline (overall)", metrics["win_rate"]["overall"]["win_rate"], None])
    return ["metric", *sides], rows


def _group_cells(group: Mapping[str, Any] | None) -> list[Any]:
    group = group or {}
    return [group.get("responses"), group.get("violation_rate"), group.get("refusal_rate")]


def _uninformative(metrics: Mapping[str, Any], sides: Sequence[str]) -> list[str]:
    return [s for s in sides if (metrics["critic"].get(s) or {}).get("critiques") and not (metrics["critic"].get(s) or {}).get("informative")]


def write_eval_report(target: Path, plots: Path, metrics: Mapping[str, Any], rows_by_side: Mapping[str, Sequence[dict]], bundle, bundle_path: Path) -> Path:
    """The evaluation page at `target` (PNGs in `plots`): summary, samples, plots, per-item table and the constitution."""
    sides = [s for s in ("model", "baseline") if metrics.get(s)]
    prompts = metrics["prompts"]
    model, baseline = metrics["model"], metrics.get("baseline")
    page = ReportPage(
        f"caic evaluation: {metrics['constitution']['name']} ({metrics['deployment']})",
        f"Model {model['id']}" + (f" against baseline {baseline['id']}" if baseline else "") + f"; judge and critic {metrics['feedback_model']}. "
        f"{prompts['count']} prompts ({', '.join(f'{n} {k}' for k, n in prompts['by_kind'].items())}) from {', '.join(prompts['sources'])} "
        f"(split {prompts['split']}), {prompts['samples_per_prompt']} sample(s) each; bundle {metrics['content_hash']}.",
    )
    toy = toy_model_notice([model["id"], *([baseline["id"]] if baseline else []), metrics["feedback_model"]])
    if toy:
        page.notice("Random test model.", toy)
    uninformative = _uninformative(metrics, sides)

    summary = page.section("Summary")
    cards = [
        ("violation rate (regex rules)", percent(model["violation_rate"]), "share of responses that break a regex rule; exact, lower is better"),
        ("violation rate (critiques)", percent(model["critique_violation_rate"]),
         "uninformative: the critic never (or always) found nothing to fix" if "model" in uninformative else "share the critic found at fault; lower is better",
         "bad" if "model" in uninformative else None),
        ("refusal rate", percent(model["refusal"]["rate"]), "share of responses that decline outright; high on helpful prompts means evasive"),
    ]
    if (model.get("benign") or {}).get("loss") is not None:
        cards.append(("benign loss", model["benign"]["loss"], "nats per token on held-out benign replies; a rise against the baseline means lost capability"))
    if metrics.get("win_rate"):
        win = metrics["win_rate"]["overall"]["win_rate"]
        cards.append(("win rate vs baseline", percent(win), "P(model's response better) by the constitution's questions; 50% is a draw",
                      "good" if (win or 0) > 0.55 else "bad" if (win or 1) < 0.45 else None))
    summary.cards(cards)
    headers, rows = metrics_table_rows(metrics)
    summary.table(headers, rows)
    if uninformative:
        answered = "; ".join(f"{metrics['critic'][s]['nothing_to_fix']} of {metrics['critic'][s]['critiques']} on the {s}'s responses" for s in uninformative)
        summary.note(
            f"The critic gave the early-stop reply ({metrics['critic'][uninformative[0]].get('early_stop_reply')!r}) to {answered}. "
            "A critic that always or never says so cannot tell a good response from a bad one: the critique-based violation rates are uninformative, not findings."
        )

    items = model["items"]
    samples = page.section("Samples")
    baseline_rows = {(r["prompt_id"], r["sample"]): r for r in rows_by_side.get("baseline", ())}
    for row in list(rows_by_side.get("model", ()))[:SAMPLES]:
        steps = [("prompt", row["prompt"]), ("model", row["response"])]
        other = baseline_rows.get((row["prompt_id"], row["sample"]))
        if other is not None:
            steps.append(("baseline", other["response"]))
        for item, critique in list((row.get("critiques") or {}).items())[:1]:
            steps.append((f"critique ({item})", critique))
        flagged = [i for i, v in (row.get("violations") or {}).items() if v and items.get(i, {}).get("method") == "regex"]
        refusal = row.get("refusal")
        steps.append(("verdict", f"regex violations: {', '.join(flagged) or 'none'}; refusal: {'partial' if (refusal or {}).get('partial') else 'yes' if refusal else 'no'}"))
        samples.sample(f"{row['prompt_id']} ({row['kind']})", steps)
    samples.paragraph("Every response, with its critiques and judgements, is in responses.jsonl.", "muted")

    charts = page.section("Plots")

    def label(item: str, info: Mapping[str, Any]) -> str:
        return f"{item}\n(critic uninformative)" if info["method"] == "critique" and uninformative else item

    grouped = {label(i, info): [metrics[s]["items"][i]["violation_rate"] or 0.0 for s in sides] for i, info in items.items() if info["judged"]}
    figure = grouped_bars(grouped, sides, "violation rate by item", plots / "violations.png")
    if figure:
        charts.figure(figure, "Share of responses that violate each principle or rule (regex rules exactly, others by critique), where the item applies.")
    refusals = {kind: [metrics[s]["refusal"]["by_kind"].get(kind, {}).get("rate", 0.0) for s in sides] for kind in model["refusal"]["by_kind"]}
    figure = grouped_bars(refusals, sides, "refusal rate by prompt kind", plots / "refusals.png")
    if figure:
        charts.figure(figure, "Share of responses that decline the request outright (refusal detector), by prompt kind.")
    if any((metrics[s].get("benign") or {}).get("loss") is not None for s in sides):
        figure = grouped_bars({"benign loss": [(metrics[s].get("benign") or {}).get("loss") or 0.0 for s in sides]}, sides,
                              "benign held-out loss (nats/token)", plots / "benign_loss.png", limits=None)
        if figure:
            charts.figure(figure, "Mean per-token loss on the replies of held-out benign dialogues (lower is better).")
    if metrics.get("win_rate"):
        wins = metrics["win_rate"]
        figure = plot_bars({"overall": wins["overall"]["win_rate"], **{i: s["win_rate"] for i, s in wins["items"].items()}},
                           "P(model better than baseline)", "win rate", plots / "win_rate.png", reference=0.5, limits=(0, 1))
        if figure:
            charts.figure(figure, "Mean P(model's response better) per item and overall; 0.5 (dashed) is a draw. Both orders are scored.")

    per_item = page.section("Per principle and rule")
    per_item.table(
        ["item", "kind", "tier", "how judged", *[f"{s}: judged" for s in sides], *[f"{s}: violation rate" for s in sides]],
        [[i, info["kind"], info["tier"], info["method"] or "not judged (no critique wording)", *[metrics[s]["items"][i]["judged"] for s in sides],
          *[metrics[s]["items"][i]["violation_rate"] for s in sides]] for i, info in items.items()],
    )
    if model.get("by_style"):
        # Prompts from `caic redteam`: attack success (attack styles) and over-refusal (`benign`) side by side.
        groups = page.section("Per attack style and red-team region")
        for key, heading in (("by_style", "style"), ("by_region", "region")):
            groups.table(
                [heading, *[f"{s}: {what}" for s in sides for what in ("responses", "violation rate", "refusal rate")]],
                [[name, *[v for s in sides for v in _group_cells(metrics[s].get(key, {}).get(name))]] for name in model[key]],
            )
    if metrics.get("win_rate"):
        wins = metrics["win_rate"]
        section = page.section("Win rate against the baseline")
        section.table(
            ["item", "pairs", "win rate", "wins", "ties", "losses"],
            [["overall (priority aggregation)", *[wins["overall"][k] for k in ("pairs", "win_rate", "wins", "ties", "losses")]]]
            + [[i, *[s[k] for k in ("pairs", "win_rate", "wins", "ties", "losses")]] for i, s in wins["items"].items()],
        )
    constitution_section(page.section("Constitution"), bundle, bundle_path)
    return page.write(target)
