"""`caic train --config FILE.yaml`: every option by name, flat or in sections; the command line wins; the run records the effective config."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.train.config import TRAIN, cli_fields
from cai_lang.train.config_file import ConfigFileError, effective_config, option_names, read_config_file

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def captured_config(monkeypatch, args: list[str]):
    """The TrainConfig `caic train ARGS` builds, without training."""
    import cai_lang.train.phases as phases
    import cai_lang.train.settings as settings

    seen = []
    monkeypatch.setattr(phases, "run_phase", lambda config, reporter=None: seen.append(config) or phases.TrainResult(main_process=False))
    monkeypatch.setattr(settings, "check_train_config", lambda config: None)
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output
    return seen[0]


def test_every_option_of_train_can_be_set_in_a_file():
    names = option_names(TRAIN)
    for group in TRAIN:
        for f in cli_fields(group):
            assert names[f.name] == f.name
    assert names["max-steps"] == names["max_steps"] == "max_steps" and names["lr"] == "learning_rate"


def test_flat_and_sectioned_files_read_the_same(tmp_path):
    flat, nested = tmp_path / "flat.yaml", tmp_path / "nested.yaml"
    flat.write_text("max_steps: 4\nrounds: 2\nmethod: dpo\nmax-new-tokens: 32\n")
    nested.write_text("sft: {max_steps: 4}\nsl: {rounds: 2}\npolicy: {method: dpo}\nrun: {max_new_tokens: 32}\n")
    assert read_config_file(flat, TRAIN) == read_config_file(nested, TRAIN) == {"max_steps": 4, "rounds": 2, "method": "dpo", "max_new_tokens": 32}


@pytest.mark.parametrize("text, words", [
    ("max_step: 4\n", "unknown option `max_step`; did you mean `max_steps`?"),
    ("sft: {bogus: 1}\n", "unknown option `sft.bogus`"),
    ("sft: 3\n", "section `sft` must be a mapping"),
    ("- 1\n- 2\n", "not a list"),
    ("max_steps: [1\n", "not valid YAML"),
    ("max_steps: 1\nmax-steps: 2\n", "set twice"),
])
def test_bad_files_are_refused_with_what_is_wrong(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        read_config_file(path, TRAIN)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_a_bad_file_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("max_step: 4\n")
    result = runner.invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 2 and "did you mean `max_steps`" in result.output and "Traceback" not in result.output


def test_the_command_line_overrides_the_file(tmp_path, monkeypatch, constitution_file):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"file": str(constitution_file), "model": "m", "output": str(tmp_path / "out"), "phase": "all",
                                    "sft": {"max_steps": 4, "logging_steps": 1}, "policy": {"beta": 0.3}, "feedback_model": ["a", "b"]}))
    config = captured_config(monkeypatch, ["--config", str(path), "--max-steps", "7"])
    assert config.phase == "all" and config.run.file == constitution_file and config.run.model == "m"
    assert config.sft.max_steps == 7 and config.sft.logging_steps == 1  # flag wins; the file's other values stay
    assert config.policy.beta == 0.3 and config.labels.feedback_model == ["a", "b"]
    assert config.sl.rounds == 4  # neither says: the default


def test_the_effective_config_reads_back_as_the_same_config(tmp_path, monkeypatch, constitution_file):
    config = captured_config(monkeypatch, [str(constitution_file), "-m", "m", "-o", str(tmp_path / "o"), "--phase", "rl", "--clamp", "0.3", "0.7", "--cot"])
    path = tmp_path / "effective.yaml"
    path.write_text(yaml.safe_dump(effective_config(config)))
    again = captured_config(monkeypatch, ["--config", str(path)])
    assert effective_config(again) == effective_config(config)


def _quickstart_flags() -> list[str]:
    """The options scripts/quickstart.sh passes to `caic train` (its file and model are the test's)."""
    text = (REPO / "scripts" / "quickstart.sh").read_text()
    command = text[text.index('"$CAIC" train'):].split('"${RESUME[@]}"')[0].replace("\\\n", " ")
    words = shlex.split(command)[2:]
    i = words.index("-o")
    return words[1:i] + words[i + 2 :]  # without the .const file and -o DIR


def _options(run: Path) -> dict:
    record = json.loads((run / "run.json").read_text())
    kept = {key: value for key, value in record.items() if key not in ("commands", "created", "updated", "outputs", "versions", "completed")}
    kept["completed"] = {step: done["settings"] for step, done in record["completed"].items()}
    kept["config"]["run"].pop("output")
    return json.loads(json.dumps(kept).replace(str(run), "RUN"))


@pytest.mark.slow
def test_a_yaml_file_reproduces_the_quick_start_run(tmp_path, tiny_model, constitution_file):
    flags = _quickstart_flags()
    assert "--phase" in flags and "--max-steps" in flags
    flags[flags.index("--model") + 1] = str(tiny_model)
    by_flags = runner.invoke(app, ["train", str(constitution_file), *flags, "--max-prompts", "4", "-o", str(tmp_path / "flags")])
    assert by_flags.exit_code == 0, by_flags.output

    # The same run as a file: the options by name, as a recipe would list them.
    recipe, i = {"file": str(constitution_file), "output": str(tmp_path / "yaml")}, 0
    while i < len(flags):
        name, value = flags[i].lstrip("-").replace("-", "_"), flags[i + 1]
        recipe[name] = yaml.safe_load(value) if name not in ("model",) else value
        i += 2
    recipe["max_prompts"] = 4  # as on the flag run's command line, last
    path = tmp_path / "quickstart.yaml"
    path.write_text(yaml.safe_dump(recipe))
    by_file = runner.invoke(app, ["train", "--config", str(path)])
    assert by_file.exit_code == 0, by_file.output

    assert _options(tmp_path / "flags") == _options(tmp_path / "yaml")
    assert yaml.safe_load((tmp_path / "yaml" / "config.yaml").read_text()) == json.loads((tmp_path / "yaml" / "run.json").read_text())["config"]
