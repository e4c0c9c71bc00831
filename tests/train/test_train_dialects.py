"""One dialect per model: a base model (no chat template) is refused early under the chat dialect, with the
flag that fixes it, and a chat policy can be critiqued or judged by base models in the text dialect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.train.run.model_specs import has_chat_template

runner = CliRunner()
FAST = ["--max-prompts", "3", "--max-new-tokens", "6", "--deployment", "clinic", "--helpful", "none"]


@pytest.fixture(scope="module")
def base_model(tiny_model, tmp_path_factory):
    """The tiny model without its chat template: a base model."""
    folder = tmp_path_factory.mktemp("base") / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_templates_are_read_from_the_folder(tiny_model, base_model):
    assert has_chat_template(str(tiny_model)) is True and has_chat_template(str(base_model)) is False
    assert has_chat_template("http://127.0.0.1:1/v1#m") is None


@pytest.mark.parametrize(
    "command, flag",
    [(["generate", "sl", "--rounds", "1"], "--dialect text"), (["generate", "rl"], "--dialect text")],
)
def test_a_base_policy_under_the_chat_dialect_is_refused_before_anything_runs(base_model, constitution_file, tmp_path, command, flag):
    out = tmp_path / "run"
    result = runner.invoke(app, [*command, str(constitution_file), "-m", str(base_model), "-o", str(out), *FAST])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"the policy {base_model} has no chat template" in result.output and f"pass {flag}" in result.output
    assert not (out / "sl_data.jsonl").exists() and not (out / "rl_pairs.jsonl").exists()


def test_a_base_feedback_model_needs_the_text_dialect_named_for_it(tiny_model, base_model, constitution_file, tmp_path):
    refused = runner.invoke(app, ["generate", "rl", str(constitution_file), "-m", str(tiny_model), "-f", str(base_model), "-o", str(tmp_path / "a"), *FAST])
    assert refused.exit_code == 2 and "the feedback model" in refused.output and "pass --feedback-dialect text" in refused.output
    critic = runner.invoke(app, ["generate", "sl", str(constitution_file), "-m", str(tiny_model), "--critic-model", str(base_model),
                                 "-o", str(tmp_path / "b"), *FAST, "--rounds", "1"])
    assert critic.exit_code == 2 and "pass --critic-dialect text" in critic.output


@pytest.mark.slow
def test_a_base_feedback_model_judges_in_the_paper_layout(tiny_model, base_model, constitution_file, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["generate", "rl", str(constitution_file), "-m", str(tiny_model), "-f", str(base_model),
                                 "--feedback-dialect", "paper", "-o", str(out), *FAST])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["rl_generation"]["generation"]["feedback_dialect"] == "paper"
    assert len(Path(out / "rl_labels.jsonl").read_text().splitlines()) == 3


def test_the_paper_layout_is_for_comparisons_only(tiny_model, constitution_file, tmp_path):
    result = runner.invoke(app, ["generate", "rl", str(constitution_file), "-m", str(tiny_model), "--dialect", "paper",
                                 "-o", str(tmp_path / "run"), *FAST])
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.slow
def test_a_chat_policy_judged_by_a_base_model_in_the_text_dialect(tiny_model, base_model, constitution_file, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["generate", "rl", str(constitution_file), "-m", str(tiny_model), "-f", str(base_model),
                                 "--feedback-dialect", "text", "-o", str(out), *FAST])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["rl_generation"]["generation"]["dialect"] == "chat"
    assert record["rl_generation"]["generation"]["feedback_dialect"] == "text"
    assert len(Path(out / "rl_labels.jsonl").read_text().splitlines()) == 3
    sl = runner.invoke(app, ["generate", "sl", str(constitution_file), "-m", str(tiny_model), "--critic-model", str(base_model),
                             "--critic-dialect", "text", "-o", str(tmp_path / "sl"), *FAST, "--rounds", "1"])
    assert sl.exit_code == 0, sl.output
