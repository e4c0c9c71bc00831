"""Report blocks about trust in the AI feedback: label reliability per principle, accuracy against people, human review.

The training page adds `trust_sections` after its label distributions; the
comparisons page `caic eval --comparisons` writes is `write_comparisons_report`.
The figures come from `cai_lang.trust` and `cai_lang.eval.gold` (as plain
data); this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cai_lang.report.page import ReportPage, Section, toy_model_notice
from cai_lang.report.plots import plot_reliability

RELIABILITY_HEADERS = ["principle", "feedback model", "judged", "order flips", "near 0.5", "agrees with majority", "agrees with detectors",
                       "models agree", "flag"]
GOLD_HEADERS = ["principle", "rows", "accuracy [95% CI]", "ECE", "mean P(chosen)"]


def _share(figure: Mapping[str, Any] | None) -> str:
    if not figure or not figure.get("n"):
        return "–"
    low, high = figure["ci95"]
    return f"{figure['value']:.2f} [{low:.2f}, {high:.2f}] (n={figure['n']})"


def reliability_rows(table: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One row per item and feedback model, from `ItemReliability.to_dict()` entries."""
    rows = []
    for entry in table:
        flips = entry["order_agreement"]
        flip_text = "–" if not flips["n"] else f"{1 - flips['value']:.2f} (n={flips['n']})"
        rows.append([entry["item"], "regex (exact)" if entry["exact"] else entry["model"], str(entry["judged"]), flip_text,
                     "–" if entry["exact"] else _share(entry["near_half"]), _share(entry["majority_agreement"]),
                     _share(entry["detector_agreement"]), _share(entry["model_agreement"]), entry["flag"] or ""])
    return rows


def gold_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """One printable row per item and the aggregate: name, rows, accuracy [95% CI], ECE, mean P(chosen)."""
    out = []
    for entry in [*metrics["items"].values(), metrics["overall"]]:
        if not entry or not entry["rows"]:
            continue
        acc = entry["accuracy"]
        low, high = acc["ci95"]
        out.append([entry["name"], str(entry["rows"]), f"{acc['value']:.3f} [{low:.3f}, {high:.3f}]", f"{entry['ece']:.3f}",
                    f"{entry['mean_p_chosen']:.3f}"])
    return out


def reliability_block(section: Section, table: Sequence[Mapping[str, Any]], quarantined: Sequence[str] = ()) -> None:
    section.paragraph("Read from the labels alone. Order flips: how often the preferred response changes when the two responses swap "
                      "positions (0.5 is a coin). Near 0.5: labels within 0.05 of 0.5. Agreement is with the other principles' majority "
                      "on the same pair, with the regex rules that decided it, and between the ensemble's models. A principle is flagged "
                      "when its two orders agree no more often than chance, or when every label it gave is near 0.5.")
    section.table(RELIABILITY_HEADERS, reliability_rows(table))
    if quarantined:
        section.note(f"Quarantined (left out of training, recorded in run.json): {', '.join(quarantined)}.")


def gold_block(section: Section, metrics: Mapping[str, Any], plots: Path, name: str = "reliability.png") -> None:
    section.paragraph("Accuracy: the share of comparisons where the verdict prefers the response people chose (a verdict of exactly "
                      "0.5 counts half), with a 95% Wilson interval; 0.5 is chance. ECE: the expected calibration error of P(A better) "
                      "over ten bins.")
    section.table(GOLD_HEADERS, gold_rows(metrics))
    if metrics.get("best_item"):
        section.note(f"Right most often: {metrics['best_item']}.")
    curves = {"all principles": metrics["overall"]["bins"]} if metrics.get("overall") else {}
    figure = plot_reliability(curves, plots / name)
    if figure:
        section.figure(figure, "Reliability diagram: predicted probability against observed frequency (the diagonal is perfect calibration; "
                               "point size follows the bin's count).")


def human_block(section: Section, agreement: Mapping[str, Any]) -> None:
    """AI-versus-human agreement per principle, and reviewer-versus-reviewer kappa, from the review decisions."""
    rows = [[item, _share(figure)] for item, figure in agreement["items"].items()]
    section.paragraph(f"{agreement['decisions']} review decisions by {len(agreement['reviewers'])} reviewer(s) "
                      f"({', '.join(agreement['reviewers'])}); agreement counts decisions of A or B against the AI's direction.")
    section.table(["principle", "AI agrees with people"], rows)
    for pair, kappa in agreement.get("kappa", {}).items():
        value = "–" if kappa["kappa"] is None else f"{kappa['kappa']:.3f}"
        section.note(f"Cohen's kappa, {pair}: {value} over {kappa['pairs']} shared pairs.")


def write_comparisons_report(target: Path, plots: Path, metrics: Mapping[str, Any]) -> Path:
    """The page of `caic eval --comparisons`: the accuracy table and the reliability diagram."""
    page = ReportPage(f"caic feedback accuracy: {metrics['constitution']}",
                      f"Judge {metrics['judge']}; {metrics['rows']} comparisons from {metrics['file']}; bundle {metrics['content_hash']}.")
    toy = toy_model_notice([metrics["judge"]])
    if toy:
        page.notice("Random test model.", toy)
    gold_block(page.section("Accuracy against people"), metrics, plots)
    return page.write(target)


def trust_sections(page: ReportPage, run_dir: Path, labels: Sequence[Mapping[str, Any]], record, plots: Path) -> None:
    """The training page's trust sections: label reliability, accuracy against people (when measured), the review's agreement."""
    import json

    from cai_lang.trust.decisions import DECISIONS, DecisionLog, agreement
    from cai_lang.trust.reliability import reliability

    if labels:
        quarantined = (record.get("quarantine") or {}).get("items") or []
        reliability_block(page.section("Reliability of the AI labels"), [t.to_dict() for t in reliability(labels)], quarantined)
    comparisons = record.output_path("comparisons")
    if comparisons is not None and comparisons.is_file():
        gold_block(page.section("Feedback accuracy against people"), json.loads(comparisons.read_text(encoding="utf-8")), plots)
    decisions = run_dir / DECISIONS
    if decisions.is_file():
        latest = list(DecisionLog(decisions).latest().values())
        if latest:
            human_block(page.section("Human review"), agreement(latest))
