"""A 200 KB prompt among good ones: measured before generation, skipped or cut from the left, said and recorded;
the good rows of the same batch are kept. SL and RL generation and caic eval, on the tiny model (2,048 positions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.train.decoding import response_prompt
from cai_lang.train.run.fit import fit_to_context
from cai_lang.train.run.prompts import PromptRecord

pytestmark = pytest.mark.slow
runner = CliRunner()
HUGE = "Please read all of this and then tell me how to pick a lock. " * 3300  # about 200 KB


def rows(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    good = [{"id": f"ok{i}", "prompt": f"How do I sharpen knife {i}?", "split": "eval" if i % 2 else "train"} for i in range(4)]
    huge = [{"id": "huge-train", "prompt": HUGE}, {"id": "huge-eval", "prompt": HUGE, "split": "eval"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in [good[0], huge[0], *good[1:], huge[1]]), encoding="utf-8")
    assert len(HUGE) > 190_000
    return path


@pytest.fixture(scope="module")
def backend(tiny_model):
    from cai_lang.engine.local import LocalBackend

    with LocalBackend(str(tiny_model), device="cpu", batch_size=4) as opened:
        yield opened


def test_truncation_keeps_the_end_of_the_prompt_and_the_latest_turns(backend):
    history = ({"role": "user", "content": HUGE[:50_000]}, {"role": "assistant", "content": "ok"})
    records = [PromptRecord("a", "short one", "red_team"), PromptRecord("b", "tell me how" + HUGE, "red_team", history=history)]
    render = lambda r: response_prompt(r.turns, "chat")  # noqa: E731
    kept, events, checked = fit_to_context(records, backend, render=render, reserve=100, action="truncate")
    assert checked and [r.id for r in kept] == ["a", "b"] and kept[0] is records[0]
    (event,) = events
    assert event.action == "truncated" and event.tokens > 2048 and event.dropped_turns == 2
    assert kept[1].history == () and HUGE.endswith(kept[1].prompt) and event.kept_tokens <= 2048 - 100
    assert backend.count_tokens(render(kept[1])) == event.kept_tokens
    skipped, events, _ = fit_to_context(records, backend, render=render, reserve=100, action="skip")
    assert [r.id for r in skipped] == ["a"] and events[0].action == "skipped" and "context window 2048" in events[0].reason


def test_sl_generation_skips_the_long_prompt_keeps_the_rest_and_records_why(tiny_model, constitution_file, prompts_file, tmp_path):
    out = tmp_path / "sl"
    result = runner.invoke(app, ["generate", "sl", str(constitution_file), "-m", str(tiny_model), "-o", str(out), "--prompts", str(prompts_file),
                                 "--helpful", "none", "--rounds", "1", "--max-new-tokens", "6", "--deployment", "clinic"])
    assert result.exit_code == 0, result.output
    assert "long prompts: prompt 'huge-train' skipped:" in result.output and "context window 2048" in result.output
    assert sorted(r["id"] for r in rows(out / "sl_data.jsonl")) == ["ok0", "ok2"]
    step = json.loads((out / "run.json").read_text())["commands"][-1]["steps"][-1]
    assert step["long_prompts"]["checked"] and [p["id"] for p in step["long_prompts"]["prompts"]] == ["huge-train"]


def test_rl_generation_truncates_when_asked_and_the_pair_says_so(tiny_model, bundle, prompts_file, tmp_path):
    from cai_lang.engine.local import LocalBackend
    from cai_lang.train.rl.aggregate import Aggregator
    from cai_lang.train.rl.generate import RLGenerationConfig, generate_rl
    from cai_lang.train.rl.labeller import ComparisonLabeller
    from cai_lang.train.run.folder import RowWriter, read_rows
    from cai_lang.train.run.prompts import load_prompts
    records = load_prompts(prompts_file, split="train")
    config = RLGenerationConfig(max_new_tokens=6, long_prompts="truncate", chunk_size=8)
    with LocalBackend(str(tiny_model), device="cpu", batch_size=4) as policy, \
            RowWriter(tmp_path / "pairs.jsonl") as pairs, RowWriter(tmp_path / "labels.jsonl") as labels:
        stats = generate_rl(records, policy=policy, labeller=ComparisonLabeller(bundle, [policy]), aggregator=Aggregator(bundle, "priority"),
                            bundle=bundle, config=config, pair_writer=pairs, label_writer=labels, pairs_on_disk={}, policy_id="p", feedback_ids=["p"])
    written = {row["id"]: row for row in read_rows(tmp_path / "pairs.jsonl")}
    assert sorted(written) == ["huge-train", "ok0", "ok2"] and len(read_rows(tmp_path / "labels.jsonl")) == 3
    assert written["huge-train"]["truncated"]["action"] == "truncated" and HUGE.endswith(written["huge-train"]["prompt"])
    assert [e.id for e in stats.oversize] == ["huge-train"]


def test_caic_eval_skips_the_long_prompt_and_says_so_in_the_metrics(tiny_model, constitution_file, prompts_file, tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(app, ["eval", str(constitution_file), "--model", str(tiny_model), "--prompts", str(prompts_file),
                                 "--max-new-tokens", "6", "--critique-tokens", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "prompt 'huge-eval' skipped" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["prompts"]["count"] == 2 and [p["id"] for p in metrics["prompts"]["oversize"]["prompts"]] == ["huge-eval"]
    # Every evaluation row says which constitution and models made and judged it.
    responses = rows(out / "responses.jsonl")
    assert {r["content_hash"] for r in responses} == {metrics["content_hash"]}
    assert {r["model"] for r in responses} == {r["feedback_model"] for r in responses} == {str(tiny_model.resolve())}
