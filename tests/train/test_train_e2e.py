"""`caic train --phase sl` end to end on the tiny model: 8 prompts, 2 rounds, a few SFT steps."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
PROVENANCE = {"id", "prompt", "context", "kind", "initial_response", "rounds", "principles", "final_response",
              "stopped_early", "seed", "content_hash", "deployment", "model", "critic_model", "messages"}


@pytest.mark.slow
def test_train_sl_end_to_end_on_cpu(tiny_model, constitution_file, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", str(constitution_file), "--model", str(tiny_model), "--phase", "sl", "-o", str(run),
        "--deployment", "clinic", "--max-prompts", "8", "--rounds", "2", "--max-new-tokens", "16", "--seed", "3",
        "--max-steps", "3", "--train-batch-size", "4", "--logging-steps", "1", "--max-length", "256",
    ])
    assert result.exit_code == 0, result.output

    rows = [json.loads(line) for line in (run / "sl_data.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8
    assert {r["kind"] for r in rows} == {"red_team", "helpful"}
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    for row in rows:
        assert PROVENANCE <= set(row)
        assert row["content_hash"] == record["content_hash"] and row["deployment"] == "clinic" and row["seed"] == 3
        assert row["model"] == str(tiny_model.resolve()) == row["critic_model"]
        assert row["messages"][0] == {"role": "user", "content": row["prompt"]}
        assert row["messages"][1] == {"role": "assistant", "content": row["final_response"]}
        if row["kind"] == "red_team":
            assert 1 <= len(row["rounds"]) <= 2 and row["principles"] == [r["principle"] for r in row["rounds"]]

    model_dir = run / "sl_model"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.config.vocab_size == len(AutoTokenizer.from_pretrained(model_dir))
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "trainbot" in card and "clinic" in card and record["content_hash"] in card and "random weights" in card

    assert record["seed"] == 3 and record["deployment"] == "clinic"
    assert {"bundle", "sl_data", "sl_model", "sl_training_log"} <= set(record["outputs"])
    for entry in record["outputs"].values():
        assert (run / entry["path"]).exists()
    assert record["outputs"]["sl_data"]["rows"] == 8 and record["outputs"]["sl_model"]["steps"] == 3
    command = record["commands"][-1]
    assert command["argv"] and command["status"] == "done" and [s["step"] for s in command["steps"]] == ["sl-generate", "sl-sft"]
    assert command["versions"]["trl"] and command["versions"]["transformers"]
    assert (run / "report.html").is_file() and (model_dir / "trainer_state.json").is_file()
