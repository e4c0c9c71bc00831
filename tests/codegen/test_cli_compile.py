"""`caic compile`, `render`, `export` and `schema` through typer's CliRunner, plus one real
subprocess run of the installed `caic`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from codegen_sources import COMPARE_ONLY, SOURCE, write
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.codegen.bundle import load_bundle

runner = CliRunner()
BROKEN = 'principle p { critique "Point out errors." }\npriority p > nowhere\n'


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_compile_writes_bundle_templates_and_markdown(tmp_path):
    source = write(tmp_path, SOURCE)
    result = invoke("compile", source, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    written = files_under(tmp_path / "out")
    assert {"default/bundle.json", "default/constitution.md", "default/templates/chat/critique.jinja", "default/templates/text/compare.jinja"} <= set(written)
    assert all(name.startswith("default/") for name in written)
    bundle = load_bundle(tmp_path / "out" / "default")
    assert bundle.content_hash[:16] in result.output
    again = invoke("compile", source, "-o", tmp_path / "again")
    assert again.exit_code == 0
    assert files_under(tmp_path / "again") == written


def test_compile_one_deployment_or_all(tmp_path):
    source = write(tmp_path, SOURCE)
    one = invoke("compile", source, "--deployment", "clinic", "-o", tmp_path / "one")
    assert one.exit_code == 0, one.output
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["clinic"]
    every = invoke("compile", source, "--all", "-o", tmp_path / "all")
    assert every.exit_code == 0, every.output
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["clinic", "default", "research"]
    assert files_under(tmp_path / "one" / "clinic") == files_under(tmp_path / "all" / "clinic")


def test_compile_refuses_a_file_with_errors(tmp_path):
    result = invoke("compile", write(tmp_path, BROKEN), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "error[E101]" in result.output and "nothing compiled" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--deployment", "hospital"], "no deployment named `hospital`"),
        (["--deployment", "clinic", "--all"], "either --deployment or --all"),
    ],
)
def test_compile_usage_problems_exit_2(tmp_path, args, message):
    result = invoke("compile", write(tmp_path, SOURCE), "-o", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_compile_missing_file_or_unwritable_output_exit_2(tmp_path):
    assert invoke("compile", tmp_path / "absent.const", "-o", tmp_path / "out").exit_code == 2
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    result = invoke("compile", write(tmp_path, SOURCE), "-o", tmp_path / "taken")
    assert result.exit_code == 2 and "cannot write" in result.output


def test_schema_prints_the_bundle_json_schema():
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "content_hash" in schema["properties"] and "templates" in schema["properties"]


def test_render_previews_a_text_prompt(tmp_path):
    result = invoke("render", write(tmp_path, SOURCE), "--principle", "helpful", "--phase", "critique", "--dialect", "text")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Human: How much paracetamol")  # the principle's own example first
    assert result.output.rstrip().endswith("Critique:")


def test_render_takes_a_conversation_file_and_prints_user_text_literally(tmp_path):
    conversation = tmp_path / "conv.json"
    conversation.write_text(
        json.dumps({"conversation": [{"role": "user", "content": "Is {{ 6 * 7 }} [bold]right[/bold]?"}], "response_a": "Yes.", "response_b": "{% if true %}No{% endif %}"}),
        encoding="utf-8",
    )
    result = invoke("render", write(tmp_path, SOURCE), "-p", "accurate", "--phase", "compare", "--conversation", conversation)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("[user]\n")
    assert "Human: Is {{ 6 * 7 }} [bold]right[/bold]?" in result.output
    assert "(B) {% if true %}No{% endif %}" in result.output
    as_json = invoke("render", write(tmp_path, SOURCE), "-p", "accurate", "--phase", "compare", "-c", conversation, "--json")
    (message,) = json.loads(as_json.output)
    assert message["role"] == "user" and "(A) Yes." in message["content"]


def test_render_rules_deployments_and_refusals(tmp_path):
    source = write(tmp_path, SOURCE)
    rule = invoke("render", source, "-p", "hipaa", "--phase", "revision", "--dialect", "text")
    assert rule.exit_code == 0 and "RevisionRequest: Rewrite the response so that it follows the rule" in rule.output
    unknown = invoke("render", source, "-p", "bedside", "--phase", "compare")
    assert unknown.exit_code == 2 and "enabled: accurate, cautious, helpful, hipaa" in unknown.output
    in_clinic = invoke("render", source, "-p", "bedside", "--phase", "compare", "-d", "clinic")
    assert in_clinic.exit_code == 0
    not_served = invoke("render", source, "-p", "bedside", "--phase", "critique", "-d", "clinic")
    assert not_served.exit_code == 2 and "serves rl" in not_served.output
    bad_conversation = tmp_path / "bad.json"
    bad_conversation.write_text('{"conversation": [{"role": "user"}]}', encoding="utf-8")
    assert invoke("render", source, "-p", "helpful", "--phase", "critique", "-c", bad_conversation).exit_code == 2
    assert invoke("render", write(tmp_path, BROKEN, "broken.const"), "-p", "p", "--phase", "critique").exit_code == 1


def test_export_writes_the_hf_cai_json(tmp_path):
    source = write(tmp_path, SOURCE)
    target = tmp_path / "constitution.json"
    result = invoke("export", source, "--format", "hf-cai", "-o", target)
    assert result.exit_code == 0, result.output
    exported = json.loads(target.read_text(encoding="utf-8"))
    assert set(exported) == {"constitutions", "system_chat"}
    assert all(set(item) == {"critic", "revision"} for item in exported["constitutions"])
    assert all(m["role"] in ("user", "assistant") for dialogue in exported["system_chat"] for m in dialogue)
    printed = invoke("export", source, "--format", "hf-cai")
    assert json.loads(printed.stdout) == exported
    rl_only = invoke("export", write(tmp_path, COMPARE_ONLY, "rl.const"), "--format", "hf-cai")
    assert len(json.loads(rl_only.stdout)["constitutions"]) == 1
    assert invoke("export", source, "--format", "yaml").exit_code == 2


def test_installed_caic_compiles_in_a_subprocess(tmp_path):
    caic = shutil.which("caic", path=str(Path(sys.executable).parent))
    assert caic is not None, "the caic entry point is not installed (scripts/setup.sh installs the package)"
    done = subprocess.run([caic, "compile", str(write(tmp_path, SOURCE)), "--all", "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "research" / "bundle.json").is_file()
