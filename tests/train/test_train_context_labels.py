"""Context labels against the schema: counted per variable at the start of a run, and (`--infer-context`)
inferred by the feedback model by log-probability over the declared values, recorded per row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.train.run.context_labels import infer_context, label_report
from cai_lang.train.run.prompts import PromptRecord

runner = CliRunner()
RECORDS = [
    PromptRecord("a", "My chest hurts", "red_team", context={"topic": "medical", "emergency": True}),
    PromptRecord("b", "Sue my landlord", "red_team", context={"topic": "legal", "emergency": "no"}),
    PromptRecord("c", "Write a poem", "red_team", context={"topic": "legal"}),
]


def test_the_report_counts_known_unlabelled_and_unknown_per_variable(bundle):
    report, lines = label_report(bundle, RECORDS)
    assert report["variables"]["topic"] == {"kind": "enum", "values": ["general", "medical"], "known": 1, "missing": 0, "unknown": 2,
                                           "unknown_values": {"'legal'": 2}}
    assert report["variables"]["emergency"]["known"] == 1 and report["variables"]["emergency"]["unknown"] == 1
    assert report["variables"]["emergency"]["missing"] == 1
    assert "  topic: 1 known, 0 unlabelled, 2 unknown ('legal' ×2; not among general, medical: read as unlabelled)" in lines


class Scorer:
    """Prefers the option named in the prompt's user text, else the first; records what it was asked."""

    def __init__(self):
        self.calls = []

    def continuation_logprobs(self, prompts, continuations):
        self.calls.append((prompts, continuations))
        return [-0.1 if c.strip() in ("medical", "yes") else -2.0 for c in continuations]


def test_inference_fills_only_missing_or_unknown_labels_with_probabilities(bundle):
    scorer = Scorer()
    out = infer_context(RECORDS, scorer, bundle, "text")
    assert out[0] is RECORDS[0]  # every label accepted: nothing asked
    assert out[1].context == {"topic": "medical", "emergency": True}
    entry = out[1].inferred["topic"]
    assert entry["value"] == "medical" and entry["given"] == "legal"
    assert sum(entry["probabilities"].values()) == pytest.approx(1.0) and set(entry["probabilities"]) == {"general", "medical"}
    assert set(out[1].inferred["emergency"]["probabilities"]) == {"true", "false"}
    prompts, continuations = scorer.calls[0]
    assert all(p.endswith("Answer:") for p in prompts) and " medical" in continuations and " yes" in continuations
    assert "Write a poem" in prompts[-1]


@pytest.mark.slow
def test_infer_context_on_the_tiny_model_records_each_rows_inference(tiny_model, constitution_file, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": r.id, "prompt": r.prompt, "context": dict(r.context)}) + "\n" for r in RECORDS))
    out = tmp_path / "run"
    result = runner.invoke(app, ["generate", "sl", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--prompts", str(prompts),
                                 "--helpful", "none", "--rounds", "1", "--max-new-tokens", "4", "--infer-context"])
    assert result.exit_code == 0, result.output
    assert "topic: 1 known, 0 unlabelled, 2 unknown" in result.output and "inferred topic:" in result.output
    rows = {r["id"]: r for r in map(json.loads, (out / "sl_data.jsonl").read_text().splitlines())}
    assert "inferred_context" not in rows["a"]
    for row in (rows["b"], rows["c"]):
        topic = row["inferred_context"]["topic"]
        assert topic["value"] in ("general", "medical") and row["context"]["topic"] == topic["value"]
        assert sum(topic["probabilities"].values()) == pytest.approx(1.0)
    record = json.loads((out / "run.json").read_text())
    assert record["context_labels"]["sl_generation"]["variables"]["topic"]["unknown"] == 2
    assert record["sl_generation"]["generation"]["infer_context"] is True
    assert Path(out / "sft.jsonl").exists()
