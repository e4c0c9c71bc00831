"""`caic tiny-model`, `caic generate sl` and `caic train`: outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from train_testkit import write_constitution
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
FAST = ["--max-prompts", "3", "--rounds", "1", "--max-new-tokens", "8"]


def generate(constitution, model, out, *extra):
    return runner.invoke(app, ["generate", "sl", str(constitution), "--model", str(model), "-o", str(out), *FAST, *extra])


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_tiny_model_command_builds_a_loadable_model(tmp_path):
    result = runner.invoke(app, ["tiny-model", str(tmp_path / "m"), "--size", "tiny", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "random" in result.output
    assert (tmp_path / "m" / "config.json").is_file() and (tmp_path / "m" / "tokenizer.json").is_file()


def test_generate_sl_writes_rows_and_records_the_run(tiny_model, constitution_file, tmp_path):
    out = tmp_path / "run"
    result = generate(constitution_file, tiny_model, out)
    assert result.exit_code == 0, result.output
    assert "3 rows" in result.output
    rows = [json.loads(line) for line in (out / "sl_data.jsonl").read_text().splitlines()]
    record = json.loads((out / "run.json").read_text())
    assert len(rows) == 3 and record["outputs"]["sl_data"]["rows"] == 3
    assert (out / record["outputs"]["bundle"]["path"]).is_file()
    assert record["commands"][0]["status"] == "done"


def test_a_compiled_bundle_is_accepted_in_place_of_the_const_file(tiny_model, constitution_file, tmp_path):
    compiled = runner.invoke(app, ["compile", str(constitution_file), "-o", str(tmp_path / "b"), "-d", "clinic"])
    assert compiled.exit_code == 0, compiled.output
    result = generate(tmp_path / "b" / "clinic", tiny_model, tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["deployment"] == "clinic"
    wrong = generate(tmp_path / "b" / "clinic" / "bundle.json", tiny_model, tmp_path / "run2", "-d", "default")
    assert "not `default`" in one_line_error(wrong)


def test_an_uncached_hub_id_fails_fast_offline(constitution_file, tmp_path, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("an offline check must not open a connection")

    # Failing fast means deciding from the local cache alone, with no connection tried (and no wait).
    monkeypatch.setattr(socket.socket, "connect", no_network)
    result = generate(constitution_file, "someone/not-a-cached-model", tmp_path / "run")
    assert "offline" in one_line_error(result)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model, words", [("./no/such/model", "not a Hub id"), ("http://localhost:1", "--served-model")])
def test_unusable_model_specs_are_one_line_errors(constitution_file, tmp_path, model, words):
    assert words in one_line_error(generate(constitution_file, model, tmp_path / "run"))


def test_bad_inputs_are_one_line_errors(tiny_model, constitution_file, tmp_path):
    assert "no such file" in one_line_error(generate(tmp_path / "missing.const", tiny_model, tmp_path / "r1"))
    bad_prompts = tmp_path / "p.jsonl"
    bad_prompts.write_text('{"id": 1}\n', encoding="utf-8")
    assert "prompt" in one_line_error(generate(constitution_file, tiny_model, tmp_path / "r2", "--prompts", str(bad_prompts)))
    assert "deployment" in one_line_error(generate(constitution_file, tiny_model, tmp_path / "r3", "-d", "nowhere"))
    assert "helpful fraction" in one_line_error(generate(constitution_file, tiny_model, tmp_path / "r4", "--helpful-fraction", "1.5"))
    assert "no prompt set" in one_line_error(generate(constitution_file, tiny_model, tmp_path / "r5", "--helpful", "nope.jsonl"))


def test_a_constitution_with_errors_exits_1_with_its_diagnostics(tiny_model, tmp_path):
    broken = write_constitution(tmp_path, "principle p {\n  critique \"x\"\n  revision \"y\"\n  weight -1\n}\npriority p > ghost\n")
    result = generate(broken, tiny_model, tmp_path / "run")
    assert result.exit_code == 1, result.output
    assert "nothing generated" in result.output


def test_an_existing_run_needs_resume_and_the_same_settings(tiny_model, constitution_file, tmp_path):
    out = tmp_path / "run"
    assert generate(constitution_file, tiny_model, out).exit_code == 0
    assert "--resume" in one_line_error(generate(constitution_file, tiny_model, out))
    changed = generate(constitution_file, tiny_model, out, "--resume", "--seed", "9")
    assert "seed" in one_line_error(changed)
    again = generate(constitution_file, tiny_model, out, "--resume")
    assert again.exit_code == 0 and "0 written now" in again.output
    other_bundle = generate(constitution_file, tiny_model, out, "--resume", "-d", "clinic")
    assert "use a new output folder" in one_line_error(other_bundle)


def test_the_cli_module_does_not_import_torch():
    code = "import sys, cai_lang.cli.app; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
