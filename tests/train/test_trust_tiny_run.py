"""Issue 23 on a tiny-model run: `caic labels` prints the table (and flags the random model's principles, which is the truth
about it), `--quarantine` is honoured by `caic train`, and review decisions train through `--human-preferences`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
FAST = ["--max-prompts", "6", "--max-new-tokens", "8", "--deployment", "clinic"]
TRAIN = ["--max-steps", "1", "--train-batch-size", "4", "--logging-steps", "1", "--max-length", "256", "--tie-margin", "0"]


@pytest.mark.slow
def test_tiny_run_labels_quarantine_and_review_decisions_train(tiny_model, constitution_file, tmp_path):
    from cai_lang.trust.decisions import DECISIONS, DecisionLog, ai_view, pair_hash, review_order

    out = tmp_path / "run"
    made = runner.invoke(app, ["generate", "rl", str(constitution_file), "--model", str(tiny_model), "-o", str(out), *FAST])
    assert made.exit_code == 0, made.output
    labels = [json.loads(line) for line in (out / "rl_labels.jsonl").read_text().splitlines()]
    judged = sorted({item for label in labels for item in label["items"] if item not in label["exact"]})

    shown = runner.invoke(app, ["labels", str(out)])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].split()[0] == "principle"
    for item in judged:
        assert any(line.startswith(item + " ") for line in lines), item
    # The random model's labels sit at 0.5 whatever it is asked: every principle it judged is flagged.
    assert sorted(line.split(":")[1].strip() for line in lines if line.startswith("flagged:")) == judged

    quarantined = runner.invoke(app, ["labels", str(out), "--quarantine"])
    assert quarantined.exit_code == 0, quarantined.output
    assert json.loads((out / "run.json").read_text())["quarantine"]["items"] == judged

    pairs = {json.loads(line)["id"]: json.loads(line) for line in (out / "rl_pairs.jsonl").read_text().splitlines()}
    by_id = {label["pair_id"]: label for label in labels}
    log = DecisionLog(out / DECISIONS)
    for pair_id, choice in zip(review_order(list(pairs.values()), by_id), "aba"):
        log.append({"reviewer": "alice", "time": "2026-01-01T00:00:00+00:00", "pair_id": pair_id, "content_hash": pair_hash(pairs[pair_id]),
                    "decision": choice, "ai": ai_view(by_id[pair_id])})

    trained = runner.invoke(app, ["train", str(constitution_file), "--model", str(tiny_model), "-o", str(out), "--phase", "rl", "--resume",
                                  *FAST, *TRAIN, "--human-preferences", str(out / DECISIONS), "--preference-model", "always"])
    assert trained.exit_code == 0, trained.output
    assert f"quarantine: {', '.join(judged)} left out of training" in trained.output
    record = json.loads((out / "run.json").read_text())
    steps = [step for command in record["commands"] for step in command.get("steps", [])]
    quarantine_step = next(step for step in steps if step["step"] == "quarantine")
    assert quarantine_step["items"] == judged and quarantine_step["labels"] == len(labels)
    assert "(3 human)" in trained.output  # all three decisions reached the preference model's rows
    pm = record["outputs"]["preference_model"]
    assert pm["human_rows"] + pm["heldout_rows"] >= 3 and pm["human_rows"] >= 1  # some may be held out for the accuracy
