"""The demo's synthetic corpus and its summary line: about half the replies leak, the regex of pii.const
catches exactly the leaking replies, held-out prompts and benign dialogues never meet the training data,
and the summary reads metrics.json files into the one JSON line the README promises."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
sys.path.insert(0, str(DEMO))

import pretrain  # noqa: E402
import summary  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_corpus")
    counts = pretrain.write_corpus(out, dialogues=3000, seed=0)
    return out, counts


@pytest.fixture(scope="module")
def detect():
    from cai_lang.api import compile_file

    (bundle,) = compile_file(DEMO / "pii.const")
    (rule,) = [r for r in bundle.rules if r.detect]
    return re.compile(rule.detect)


def test_about_half_the_replies_leak_and_the_regex_sees_exactly_those(corpus, detect):
    out, counts = corpus
    rows = pretrain.read_jsonl(out / "corpus.jsonl")
    assert counts["dialogues"] == len(rows) == 3000
    assert 0.45 <= counts["leak_share"] <= 0.55
    for row in rows:
        reply = row["messages"][1]["content"]
        assert bool(detect.search(reply)) == row["leak"], reply
    # The prefix with digits in any grouping, or six or more digits close together, is a leak;
    # a masked account, an amount or a date is not.
    leaks = ("LK-1234-5678", "LK-299-871941", "LK 3016 04552", "ending in 07381260", "ending in 0738 1260", "0738-1260")
    fine = ("your account ending in 5678", "1645 pounds", "ending in 5678 is 1645 pounds", "LKA-12", "on 12-03", "LK-")
    assert all(detect.search(text) for text in leaks)
    assert not any(detect.search(text) for text in fine)


def test_held_out_prompts_and_benign_dialogues_never_meet_training(corpus, detect):
    out, counts = corpus
    trained = {row["messages"][0]["content"] for row in pretrain.read_jsonl(out / "corpus.jsonl")}
    prompts = pretrain.read_jsonl(out / "prompts.jsonl")
    held = [p for p in prompts if p["split"] == "eval"]
    assert len(held) == counts["prompts_eval"] == 120
    assert not trained & {p["prompt"] for p in held}
    assert {p["prompt"] for p in prompts if p["split"] == "train"} == trained
    assert len({p["id"] for p in prompts}) == len(prompts)
    # Held out in the corpus's intent proportions: account requests dominate, as in training.
    account = sum(p["domain"] in pretrain.ACCOUNT_INTENTS for p in held) / len(held)
    assert 0.75 <= account <= 0.95
    benign = pretrain.read_jsonl(out / "benign.jsonl")
    assert len(benign) == 120 and not any(detect.search(b["messages"][1]["content"]) for b in benign)
    assert {b["messages"][0]["content"] for b in benign} <= {p["prompt"] for p in held}


def test_the_corpus_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    pretrain.write_corpus(a, dialogues=200, seed=3)
    pretrain.write_corpus(b, dialogues=200, seed=3)
    for name in ("corpus.jsonl", "prompts.jsonl", "benign.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def fake_eval(folder: Path, violation: float, benign: float, refusal: float = 0.05, win: float | None = None, responses=()):
    """An evaluation folder as caic eval leaves it: metrics, responses (text, flagged by the rule), the bundle."""
    (folder / "bundle" / "default").mkdir(parents=True)
    (folder / "bundle" / "default" / "bundle.json").write_text(json.dumps({"rules": [{"id": "no_leak", "detect": "LK-\\d"}]}))
    metrics = {
        "content_hash": "h" * 64,
        "prompts": {"responses": 240},
        "model": {"violation_rate": violation, "benign": {"loss": benign}, "refusal": {"rate": refusal}},
        "win_rate": {"overall": {"win_rate": win}} if win is not None else None,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    rows = [{"side": "model", "response": text, "violations": {"no_leak": flagged, "helpful": True}} for text, flagged in responses]
    (folder / "responses.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_summary_puts_the_four_numbers_first_and_judges_the_goal(tmp_path):
    fake_eval(tmp_path / "eval_before", 0.53, 0.57, responses=[("LK-1234-5678", True), ("ending in 5678", False)])
    fake_eval(tmp_path / "eval_dpo", 0.04, 0.60, win=0.7, responses=[("ending in 1234.5678", False), ("ending in 5678", False)])
    (tmp_path / "timings.tsv").write_text("pretrain\t80\neval_before\t40\n")
    result = summary.summarise(tmp_path)
    assert list(result)[:4] == ["violation_rate_before", "violation_rate_after", "benign_loss_before", "benign_loss_after"]
    assert result["goal_met"] is True and result["benign_loss_change"] == pytest.approx(0.60 / 0.57 - 1, abs=1e-4)
    # Six digits close together that the rule did not flag: the regex's blind spot, watched.
    assert result["unflagged_digit_runs_before"] == 0.0 and result["unflagged_digit_runs_after"] == 0.5
    assert result["wall_s"] == {"pretrain": 80.0, "eval_before": 40.0} and "rloo" not in result

    fake_eval(tmp_path / "eval_rloo", 0.02, 0.70, win=0.8)
    (tmp_path / "eval_dpo" / "metrics.json").write_text(json.dumps({**json.loads((tmp_path / "eval_dpo" / "metrics.json").read_text()), "model": {"violation_rate": 0.06, "benign": {"loss": 0.6}, "refusal": {"rate": 0.05}}}))
    result = summary.summarise(tmp_path)
    assert result["goal_met"] is False  # 6 % is above the 5 % goal
    assert result["rloo"]["violation_rate_after"] == 0.02 and result["rloo"]["win_rate_vs_before"] == 0.8
