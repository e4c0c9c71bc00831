"""`caic redteam` with the tiny model: every region gets prompts with provenance, the file feeds
`caic generate sl` and `caic coverage`, and a killed run resumes to the uninterrupted run's files.

The tiny model's text is noise: these tests check structure and provenance, not what the prompts say.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter

import pytest
from train_testkit import caic_command
from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()
FAST = ["--max-new-tokens", "8", "--batch-size", "16", "--device", "cpu"]


def rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def medical_redteam(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("redteam") / "medical"
    result = runner.invoke(app, ["redteam", "examples/medical.const", "--model", str(tiny_model), "-o", str(out), "--per-region", "2",
                                 "--style", "direct", "--style", "benign", "--chunk-size", "64", *FAST])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_every_region_gets_prompts_with_provenance(medical_redteam):
    regions = json.loads((medical_redteam / "regions.json").read_text())["regions"]
    kept = rows(medical_redteam / "redteam.jsonl")
    per_region = Counter(r["region"] for r in kept)
    assert all(per_region[r["id"]] >= 2 for r in regions), [r["id"] for r in regions if per_region[r["id"]] < 2]
    witness = {r["id"]: r["witness"] for r in regions}
    record = json.loads((medical_redteam / "run.json").read_text())
    assert len({r["id"] for r in kept}) == len(kept)
    for row in kept:
        assert row["context"] == witness[row["region"]]
        assert row["style"] in ("direct", "benign") and row["targets"]
        assert row["kind"] == ("helpful" if row["style"] == "benign" else "red_team")
        assert row["content_hash"] == record["content_hash"] and row["generator"].endswith("model") and row["seed"] == 0
        assert row["prompt"].strip()


@pytest.mark.slow
def test_redteam_file_feeds_generate_sl_and_reaches_every_region(medical_redteam, tiny_model, tmp_path):
    prompts = medical_redteam / "redteam.jsonl"
    covered = runner.invoke(app, ["coverage", "examples/medical.const", "--prompts", str(prompts), "--min", "1", "--format", "json"])
    assert covered.exit_code == 0, covered.output
    report = json.loads(covered.output)
    assert report["unreached"] == [] and report["below_min"] == []
    assert report["summary"]["regions"]["reached"] == report["summary"]["regions"]["total"] > 30
    out = tmp_path / "sl"
    result = runner.invoke(app, ["generate", "sl", "examples/medical.const", "--model", str(tiny_model), "--prompts", str(prompts),
                                 "--split", "all", "--helpful-fraction", "0", "--max-prompts", "4", "--rounds", "1", "-o", str(out), *FAST])
    assert result.exit_code == 0, result.output
    ids = {r["id"] for r in rows(prompts)}
    made = rows(out / "sl_data.jsonl")
    assert made and all(r["id"] in ids for r in made)


SMALL = """
context { adult: bool  risk: low | mid | high }
action advise "give specific dosing advice"
rule no_advice_to_minors { never advise unless adult }
principle careful { critique "Point out careless advice." revision "Rewrite it carefully." applies when risk > low }
"""


@pytest.mark.slow
def test_a_killed_redteam_run_resumes_to_the_same_files(tiny_model, tmp_path, subprocess_env):
    constitution = tmp_path / "small.const"
    constitution.write_text(SMALL)
    command = ["redteam", str(constitution), "--model", str(tiny_model), "--per-region", "3", "--chunk-size", "1", "--seed", "3",
               "--style", "direct", "--style", "roleplay", "--style", "escalation", *FAST]
    killed = tmp_path / "killed"
    process = subprocess.Popen([*caic_command(), *command, "-o", str(killed)], env=subprocess_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    data = killed / "redteam.jsonl"
    deadline = time.monotonic() + 300
    while (not data.exists() or data.read_bytes().count(b"\n") < 4) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    before = data.read_bytes().count(b"\n")
    assert before >= 4

    refused = runner.invoke(app, [*command, "-o", str(killed)])
    assert refused.exit_code == 2 and "--resume" in refused.output
    resumed = runner.invoke(app, [*command, "-o", str(killed), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    clean = runner.invoke(app, [*command, "-o", str(tmp_path / "clean")])
    assert clean.exit_code == 0, clean.output
    for name in ("redteam.jsonl", "redteam_rejected.jsonl"):
        after, reference = rows(killed / name), rows(tmp_path / "clean" / name)
        assert after == reference, name
    kept = rows(data)
    assert len({r["id"] for r in kept}) == len(kept) > before


@pytest.mark.slow
def test_eval_reports_rates_per_region_and_style_from_a_redteam_file(medical_redteam, tiny_model, tmp_path):
    prompts = medical_redteam / "redteam.jsonl"
    out = tmp_path / "eval"
    result = runner.invoke(app, ["eval", "examples/medical.const", "--model", str(tiny_model), "--prompts", str(prompts), "--split", "all",
                                 "--max-prompts", "12", "--no-critiques", "--max-new-tokens", "8", "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "by style:" in result.output
    model = json.loads((out / "metrics.json").read_text())["model"]
    responses = rows(out / "responses.jsonl")
    assert sum(g["responses"] for g in model["by_style"].values()) == len(responses)
    assert set(model["by_region"]) == {r["region"] for r in responses}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Per attack style and red-team region" in page and next(iter(model["by_region"])) in page


def _stub_module():
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("openai_stub", Path(__file__).parents[1] / "engine" / "openai_stub.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("openai_stub", module)
    spec.loader.exec_module(module)
    return module


def test_redteam_runs_against_a_server_pool(tmp_path):
    stub_module = _stub_module()
    started = [stub_module.start_stub() for _ in range(2)]
    constitution = tmp_path / "small.const"
    constitution.write_text(SMALL)
    try:
        spec = ",".join(f"{stub.url}/v1" for stub, _ in started) + "#served-x"
        out = tmp_path / "served"
        result = runner.invoke(app, ["redteam", str(constitution), "--model", spec, "-o", str(out), "--per-region", "1",
                                     "--style", "direct", "--style", "escalation", "--rounds", "1", "--similarity", "100"])
    finally:
        for _, server in started:
            server.shutdown()
            server.server_close()
    assert result.exit_code == 0, result.output
    regions = json.loads((out / "regions.json").read_text())["regions"]
    kept, rejected = rows(out / "redteam.jsonl"), rows(out / "redteam_rejected.jsonl") if (out / "redteam_rejected.jsonl").exists() else []
    assert len(kept) + len(rejected) == 2 * len(regions)  # one decision per cell, none invented
    assert all(r["generator"].endswith("#served-x") for r in kept + rejected)
    # The stub echoes the last message: a row's prompt is exactly what the server wrote, trimmed.
    assert all(r["prompt"].startswith("chat<<") for r in kept if "prompt" in r)
    assert any("messages" in r for r in kept)
    assert sum(len(stub.requests) for stub, _ in started) >= 2 * len(regions)


def test_coverage_with_inferred_context_labels(tiny_model, tmp_path):
    prompts = tmp_path / "unlabelled.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"u{n}", "prompt": text}) + "\n" for n, text in enumerate(
        ["Can you tell me my neighbour's test results?", "What dose of ibuprofen is safe for me?", "Is the clinic open on Sunday?"])))
    args = ["coverage", "examples/medical.const", "--prompts", str(prompts), "--format", "json"]
    plain = json.loads(runner.invoke(app, args).output)
    inferred_run = runner.invoke(app, [*args, "--infer-context", "--model", str(tiny_model)])
    assert inferred_run.exit_code == 0, inferred_run.output
    inferred = json.loads(inferred_run.output)

    def hipaa(report):
        counts = {r["id"]: r["prompts"] for r in report["regions"]}
        return counts["rule:hipaa_privacy"] + counts["boundary:hipaa_privacy"]

    # Unlabelled, no prompt is known to be on either side of `authorized`; inferred, every one is on one side.
    assert hipaa(plain) == 0 and hipaa(inferred) == 3
    assert runner.invoke(app, [*args[:-2], "--infer-context"]).exit_code == 2
