"""The training report: a real `caic train --phase sl` run folder, plus the RL outputs a report must read
(a preference model's metadata and log, preference labels), rendered to one self-contained HTML page.

The page is parsed with the standard library's HTML parser, as a browser would
read it: every plot must be an <img> whose data URI decodes to a PNG, and the
constitution summary must carry the bundle's content hash and its items."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PageReader(HTMLParser):
    """Collects what a browser would show: images, headings, table cells, text."""

    def __init__(self):
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self._heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag in ("h1", "h2", "h3"):
            self._heading = True
        if tag in ("link", "script") and (attrs.get("href") or attrs.get("src")):
            self.links.append(attrs.get("href") or attrs.get("src"))

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3"):
            self._heading = False

    def handle_data(self, data):
        if self._heading:
            self.headings.append(data.strip())
        self.text.append(data)


def read_page(path: Path) -> PageReader:
    reader = PageReader()
    reader.feed(path.read_text(encoding="utf-8"))
    reader.close()
    return reader


def assert_self_contained(reader: PageReader, min_images: int) -> None:
    assert not reader.links, f"the page loads outside files: {reader.links}"
    assert len(reader.images) >= min_images
    for image in reader.images:
        src = image["src"]
        assert src.startswith("data:image/png;base64,"), src[:40]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
        assert image.get("alt")


@pytest.fixture(scope="module")
def sl_run(tmp_path_factory, tiny_model, constitution_file):
    run = tmp_path_factory.mktemp("report") / "run"
    result = CliRunner().invoke(app, [
        "train", str(constitution_file), "--model", str(tiny_model), "--phase", "sl", "-o", str(run),
        "--max-prompts", "6", "--rounds", "1", "--max-new-tokens", "8", "--seed", "1",
        "--max-steps", "4", "--train-batch-size", "4", "--logging-steps", "1", "--max-length", "128",
    ])
    assert result.exit_code == 0, result.output
    return run


def add_rl_outputs(run: Path) -> None:
    """What the RL phase leaves: a preference model folder with metadata and a log, and a label file."""
    from cai_lang.train.run.record import RunRecord

    pm = run / "preference_model"
    pm.mkdir()
    (pm / "config.json").write_text("{}")
    (pm / "caic_training.json").write_text(json.dumps({
        "kind": "preference_model", "metrics": {"heldout_pairwise_accuracy": 0.75, "heldout_rows": 4, "train_loss": 0.61}, "data": {"train_rows": 28},
    }))
    (pm / "training_log.json").write_text(json.dumps({"log_history": [
        {"step": 1, "loss": 0.69, "accuracy": 0.5}, {"step": 2, "loss": 0.65, "accuracy": 0.6}, {"step": 3, "loss": 0.6, "accuracy": 0.8},
        {"step": 3, "train_loss": 0.65, "train_runtime": 1.0},
    ]}))
    labels = []
    for i in range(10):
        exact = i % 2 == 0
        labels.append({
            "pair_id": f"p{i}", "p_a": 0.0 if exact else 0.3 + 0.04 * i, "mode": "priority", "content_hash": "x",
            "items": ({"escalate": 0.0} if exact else {}) | {"harmless": 0.3 + 0.04 * i, "concise": 0.5},
            "exact": ["escalate"] if exact else [], "abstained": [] if exact else ["escalate"], "decided_by": 0 if exact else 1,
            "tiers": {}, "set_aside": [], "details": {}, "dropped_labels": [],
        })
    (run / "rl_labels.jsonl").write_text("".join(json.dumps(label) + "\n" for label in labels))
    record = RunRecord.open(run)
    record.add_output("preference_model", pm, "preference_model")
    record.add_output("rl_labels", run / "rl_labels.jsonl", "preference_labels", rows=len(labels))
    record.save()


@pytest.mark.slow
def test_training_report_shows_curves_labels_and_the_constitution(sl_run):
    from cai_lang.train.phases import write_report
    from cai_lang.train.run.session import Run

    add_rl_outputs(sl_run)
    path = write_report(Run.open(sl_run))
    assert path == sl_run / "report.html"
    record = json.loads((sl_run / "run.json").read_text())
    reader = read_page(path)
    text = " ".join(reader.text)

    # Loss curve, preference accuracy curve, label histograms, decided-by bars.
    assert_self_contained(reader, min_images=4)
    alts = " ".join(image["alt"] for image in reader.images)
    assert "Training loss" in alts and "P(A better)" in alts

    assert {"Constitution", "Training curves", "Preference model", "Preference labels by principle", "What ran"} <= set(reader.headings)
    assert record["content_hash"] in text and "trainbot" in text
    for item in ("harmless", "accurate", "concise", "escalate"):
        assert item in text
    assert "0.75" in text  # held-out pairwise accuracy
    assert "constitution.md" in text
    assert record["outputs"]["training_report"]["path"] == "report.html"
    assert (sl_run / "report_plots" / "loss.png").is_file()


@pytest.mark.slow
def test_a_report_of_a_bare_folder_says_what_is_missing(tmp_path):
    from cai_lang.train.phases import write_report
    from cai_lang.train.run.session import Run

    path = write_report(Run.open(tmp_path))
    text = " ".join(read_page(path).text)
    assert "No loadable bundle" in text and "No trainer log" in text


def test_label_summary_counts_exact_and_abstained_items():
    from cai_lang.report.html import label_summary

    labels = [
        {"p_a": 0.0, "items": {"rule": 0.0, "p": 0.7}, "exact": ["rule"], "abstained": [], "decided_by": 0},
        {"p_a": 0.7, "items": {"p": 0.7}, "exact": [], "abstained": ["rule"], "decided_by": 1},
        {"p_a": 0.5, "items": {"p": 0.5}, "exact": [], "abstained": ["rule"], "decided_by": None},
    ]
    summary = label_summary(labels)
    assert summary["labels"] == 3 and summary["ties"] == 1
    assert summary["items"]["rule"] == {"labels": 1, "mean_p_a": 0.0, "decisive": 1, "exact": 1, "abstained": 2}
    assert summary["items"]["p"]["labels"] == 3 and summary["items"]["p"]["decisive"] == 2
    assert summary["decided_by"] == {"0": 1, "1": 1, "None": 1}
