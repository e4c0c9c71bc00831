"""The reports as a reader sees them: rendered in headless Chromium, summary first, images decoded, user text shown as text.

The training report is built from a run folder written here (a compiled
bundle, SL rows, pairs, labels and trainer logs of two steps and of two
thousand), so the test is fast and the page's content is known; the
evaluation report comes from a real `caic eval` of the tiny model. Each test
writes a screenshot (kept when CAIC_SCREENSHOT_DIR is set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser_kit import headings, render, visible_text
from typer.testing import CliRunner

from cai_lang.cli.app import app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> {{ 7*7 }} {% raw %}"


def _model(folder: Path, steps: int, random: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("---\ntags: [caic, random-weights]\n---\n" if random else "# a model\n")
    history = [{"step": s, "loss": 2.0 / (1 + s / 50), "learning_rate": 1e-5, "rewards/accuracies": min(1.0, s / steps)} for s in range(1, steps + 1)]
    history.append({"step": steps, "train_loss": 1.0, "train_runtime": 3.0})
    (folder / "training_log.json").write_text(json.dumps({"log_history": history}))
    return folder


def write_run(run: Path, constitution_file: Path) -> dict:
    from cai_lang.train.run.session import Run

    run.mkdir(parents=True)
    opened = Run.open(run)
    bundle, bundle_path = opened.bundle_for(constitution_file, "clinic")
    tiny = _model(run / "tiny", 0)
    sl_rows = [{
        "id": f"p{i}", "kind": "red_team", "prompt": HOSTILE if i == 0 else f"prompt {i}", "context": {"topic": "general"},
        "initial_response": f"first answer {i}", "final_response": f"revised answer {i}",
        "rounds": [{"principle": "harmless", "critique": f"critique text {i}", "revision": f"revised answer {i}", "nothing_to_fix": False}],
    } for i in range(3)]
    (run / "sl_data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sl_rows))
    pairs = [{"id": f"q{i}", "prompt": f"pair prompt {i}", "response_a": f"answer A{i}", "response_b": f"answer B{i}"} for i in range(4)]
    (run / "rl_pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    labels = [{"pair_id": f"q{i}", "p_a": 0.8 if i % 2 else 0.0, "items": {"harmless": 0.8, "concise": 0.4} | ({} if i % 2 else {"escalate": 0.0}),
               "exact": [] if i % 2 else ["escalate"], "abstained": ["escalate"] if i % 2 else [], "decided_by": 1 if i % 2 else 0} for i in range(4)]
    (run / "rl_labels.jsonl").write_text("".join(json.dumps(label) + "\n" for label in labels))
    record = opened.record
    record.start_command(["caic", "train", str(constitution_file)])
    record.set("constitution", {"name": bundle.constitution.name, "version": bundle.constitution.version})
    record.set("deployment", "clinic")
    record.set("content_hash", bundle.content_hash)
    record.add_output("bundle", bundle_path, "bundle")
    record.add_output("sl_data", run / "sl_data.jsonl", "sl_data")
    record.add_output("sl_model", _model(run / "sl_model", 2), "sft_model", base_model=str(tiny))
    record.add_output("rl_policy", _model(run / "rl_policy", 2000), "policy", base_model=str(tiny))
    record.add_output("rl_pairs", run / "rl_pairs.jsonl", "pairs")
    record.add_output("rl_labels", run / "rl_labels.jsonl", "preference_labels")
    record.add_step("sl-generate", rows=3)
    record.finish_command()
    opened.save()
    return json.loads((run / "run.json").read_text())


def test_training_report_in_a_browser_leads_with_the_result(tmp_path, constitution_file):
    from cai_lang.report.training import write_report
    from cai_lang.train.run.session import Run

    record = write_run(tmp_path / "run", constitution_file)
    page = write_report(Run.open(tmp_path / "run"))
    shown = render(page, tmp_path / "report_training.png", height=2400)
    text = visible_text(shown.dom)

    # Summary, samples, curves, then the constitution: in that order on the page.
    assert headings(shown.dom)[:3] == ["Summary", "Samples", "Training curves"] and headings(shown.dom)[-1] == "Constitution"
    assert shown.dom.index("Random test model.") < shown.dom.index("<h2>Summary")
    assert "last command" in text and "labelled pairs" in text and "rl_policy: final loss" in text
    assert "critique text 0" in text and "answer A1" in text and "harmless: P(A better) = 0.800" in text
    assert "escalate: P(A better) = 0.000 (exact, regex)" in text
    assert record["content_hash"] in text and "trainbot" in text
    # Every image (curves, label histograms, decided-by bars) decoded in the browser.
    assert len(shown.images) >= 3 and set(shown.images) == {"1"}, shown.images
    assert "None" not in visible_text(shown.dom.split('<section id="constitution">')[0])  # no None seed, bar or cell
    # The hostile prompt is shown as text: no element made from it, no template evaluated.
    assert HOSTILE in text and "<title>caic training report" in shown.dom and "pwned" not in shown.dom.split("</title>")[0]
    assert shown.screenshot.read_bytes()[:8] == PNG_MAGIC


def test_a_two_step_and_a_two_thousand_step_curve_both_read(tmp_path, constitution_file):
    """One panel per metric; each trainer's loss on its own panel; the 2-step line keeps its markers."""
    from cai_lang.report.html import CURVES, read_log_history, step_series

    write_run(tmp_path / "run", constitution_file)
    short, long = (read_log_history(tmp_path / "run" / name) for name in ("sl_model", "rl_policy"))
    assert step_series(short, "loss")[0] == [1.0, 2.0]  # the closing summary is not a step
    assert len(step_series(long, "loss")[0]) == 2000
    assert "training loss" not in [title for title, _ in CURVES[1:]]


@pytest.mark.slow
def test_evaluation_report_in_a_browser(tmp_path, tiny_model, constitution_file):
    out = tmp_path / "eval"
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"e{i}", "prompt": f"Question {i}?", "kind": "helpful", "split": "eval"}) + "\n" for i in range(3)))
    result = CliRunner().invoke(app, ["eval", str(constitution_file), "-d", "clinic", "--model", str(tiny_model), "--baseline", str(tiny_model),
                                      "--prompts", str(prompts), "--max-new-tokens", "6", "--critique-tokens", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    shown = render(out / "report.html", tmp_path / "report_eval.png", height=2400)
    text = visible_text(shown.dom)
    assert headings(shown.dom)[:3] == ["Summary", "Samples", "Plots"] and headings(shown.dom)[-1] == "Constitution"
    assert shown.dom.index("Random test model.") < shown.dom.index("<h2>Summary")
    assert "win rate vs baseline" in text and "50% is a draw" in text and "Question 0?" in text
    assert len(shown.images) >= 3 and set(shown.images) == {"1"}, shown.images
