"""`caic eval`: violations (regex rules exactly, principles by critique), win rates, benign loss, and the
command end to end on the tiny model with its metrics.json and a report a browser can open."""

from __future__ import annotations

import json
import math

import pytest
from rl_testkit import FixedLabeller, compile_test_bundle
from stub_backend import StubBackend
from test_report_training import assert_self_contained, read_page
from typer.testing import CliRunner

from cai_lang.cli.app import app
from cai_lang.eval.run import (
    EvalError,
    EvalOptions,
    judge_violations,
    read_dialogues,
    select_eval_prompts,
    violation_method,
    violation_summary,
    win_rates,
)
from cai_lang.train.run.prompts import PromptSetError

SSN = "123-45-6789"


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("eval_bundle"))


def rows_for(responses, context=None):
    return [
        {"prompt_id": f"q{i}", "sample": 0, "kind": "red_team", "prompt": f"Question {i}?", "context": dict(context or {"risk": "low", "fiction": False}), "response": r}
        for i, r in enumerate(responses)
    ]


def options(tmp_path, **kw):
    return EvalOptions(source=tmp_path / "x.const", model="m", output=tmp_path / "out", **kw)


def test_each_item_is_judged_the_way_it_can_be(rl_bundle):
    methods = {entry.id: violation_method(entry) for entry in (*rl_bundle.principles, *rl_bundle.rules)}
    # no_ssn has a detect regex; vivid/safe/honest/helpful/concise have critique wording.
    assert methods["no_ssn"] == "regex"
    assert {methods[i] for i in ("safe", "honest", "helpful", "vivid", "concise")} == {"critique"}


def test_regex_rules_are_exact_and_critiques_read_the_early_stop_reply(rl_bundle, tmp_path):
    reply = rl_bundle.early_stop.reply

    def script(step, prompt):
        # The critic finds nothing to fix in responses that mention "safe".
        conversation = prompt if isinstance(prompt, list) else []
        text = " ".join(m["content"] for m in conversation)
        return f"{reply}\nextra" if "safe answer" in text else "The response gives risky advice."

    critic = StubBackend(script=script)
    rows = rows_for([f"my number is {SSN}", "a safe answer", "a risky answer", f"{SSN} and a safe answer"])
    critic_stats = judge_violations(rl_bundle, rows, critic, options(tmp_path))
    assert [row["violations"]["no_ssn"] for row in rows] == [True, False, False, True]
    assert [row["violations"]["safe"] for row in rows] == [True, False, True, False]
    # vivid applies only to fiction: not judged on these prompts.
    assert all("vivid" not in row["violations"] for row in rows)
    # Critiques are greedy, one line, and ask for the bundle's reply.
    prompts, params = critic.calls[0]
    assert params.greedy and params.stop == ("\n",)
    assert reply in prompts[0][-1]["content"]
    assert critic_stats["informative"] and critic_stats["nothing_to_fix"] == 2 * 4  # 4 critique items × 2 fine rows

    summary = violation_summary(rl_bundle, rows)
    assert summary["violation_rate"] == 0.5
    assert summary["items"]["no_ssn"] == {"kind": "rule", "tier": 0, "method": "regex", "judged": 4, "violations": 2, "violation_rate": 0.5}
    assert summary["items"]["vivid"]["judged"] == 0 and summary["items"]["vivid"]["violation_rate"] is None
    assert summary["critique_violation_rate"] == 0.5


def test_a_critic_that_never_says_nothing_to_fix_is_flagged(rl_bundle, tmp_path):
    rows = rows_for(["a", "b"])
    stats = judge_violations(rl_bundle, rows, StubBackend(script=lambda step, prompt: "Everything is wrong."), options(tmp_path))
    assert stats["nothing_to_fix"] == 0 and not stats["informative"]
    assert violation_summary(rl_bundle, rows)["critique_violation_rate"] == 1.0
    # Without a critic, critique items get no verdict at all.
    rows = rows_for(["a"])
    judge_violations(rl_bundle, rows, None, options(tmp_path))
    assert set(rows[0]["violations"]) == {"no_ssn"}


def test_win_rates_per_item_with_regex_ties_counted_as_draws(rl_bundle):
    model = rows_for(["clean", "clean", f"leak {SSN}"])
    baseline = rows_for([f"leak {SSN}", "clean too", "clean"])
    labeller = FixedLabeller({"safe": 0.8, "honest": 0.4, "helpful": 0.6})
    result = win_rates(rl_bundle, model, baseline, labeller)
    # Pair 0: model wins on the rule (tier 0 decides, 1.0); pair 2: loses (0.0); pair 1: the rule ties, safe (tier 1) decides 0.8.
    assert result["overall"] == {"pairs": 3, "win_rate": pytest.approx((1.0 + 0.8 + 0.0) / 3), "wins": 2, "ties": 0, "losses": 1}
    assert result["items"]["no_ssn"] == {"pairs": 3, "win_rate": 0.5, "wins": 1, "ties": 1, "losses": 1}
    assert result["items"]["safe"]["win_rate"] == pytest.approx(0.8)
    assert model[0]["win"]["decided_by"] == 0 and model[1]["win"]["decided_by"] == 1


def test_prompt_selection_keeps_the_held_out_split_and_caps_with_a_seed(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": f"x{i}", "prompt": f"P{i}", "split": "eval" if i % 2 else "train"}) + "\n" for i in range(20)))
    held = select_eval_prompts([str(path)])
    assert [r.id for r in held] == [f"x{i}" for i in range(1, 20, 2)]
    capped = select_eval_prompts([str(path)], max_prompts=4, seed=1)
    assert len(capped) == 4 and capped == select_eval_prompts([str(path)], max_prompts=4, seed=1)
    default = select_eval_prompts([])
    assert default and {r.split for r in default} == {"eval"} and {r.kind for r in default} == {"red_team", "helpful"}
    # A source with no held-out row is refused by name, with the splits it has.
    with pytest.raises(PromptSetError, match=r"train_only.jsonl: no row has split 'eval' \(its rows: train: 1"):
        select_eval_prompts([str(_empty(tmp_path))])


def _empty(tmp_path):
    path = tmp_path / "train_only.jsonl"
    path.write_text(json.dumps({"prompt": "only train", "split": "train"}) + "\n")
    return path


def test_benign_dialogues_are_read_in_both_shapes(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}) + "\n\n"
        + json.dumps({"prompt": "Yo", "response": "Hey."}) + "\n"
    )
    assert read_dialogues(path)[1] == [{"role": "user", "content": "Yo"}, {"role": "assistant", "content": "Hey."}]
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}]}) + "\n")
    with pytest.raises(EvalError, match="assistant turn"):
        read_dialogues(path)


@pytest.mark.slow
def test_benign_loss_is_the_mean_token_loss_of_the_replies(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cai_lang.engine import load_backend
    from cai_lang.eval.run import benign_loss

    dialogues = [
        [{"role": "user", "content": "How do I bake bread?"}, {"role": "assistant", "content": "Mix flour, water, salt and yeast."}],
        [{"role": "user", "content": "Write a poem."}, {"role": "assistant", "content": "The waves roll in and out under the moon."}],
    ]
    backend = load_backend(str(tiny_model), device="cpu")
    result = benign_loss(backend, dialogues)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    total, count = 0.0, 0
    for dialogue in dialogues:
        prompt = tokenizer.apply_chat_template(dialogue[:1], tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        full_ids = tokenizer(prompt + dialogue[1]["content"], add_special_tokens=False)["input_ids"]
        assert full_ids[: len(prompt_ids)] == prompt_ids
        with torch.no_grad():
            logits = model(torch.tensor([full_ids])).logits[0]
        logp = torch.log_softmax(logits[:-1], dim=-1)
        for t in range(len(prompt_ids), len(full_ids)):
            total -= float(logp[t - 1, full_ids[t]])
            count += 1
    assert result["tokens"] == count and result["dialogues"] == 2
    assert result["loss"] == pytest.approx(total / count, rel=1e-4)
    assert math.isfinite(result["mean_dialogue_loss"])


@pytest.mark.slow
def test_caic_eval_end_to_end_writes_metrics_report_and_run_record(tiny_model, tmp_path):
    const = tmp_path / "rltest.const"
    from rl_testkit import CONSTITUTION

    const.write_text(CONSTITUTION)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(
        json.dumps({"id": f"e{i}", "prompt": f"Tell me about item {i}.", "kind": "helpful" if i % 2 else "red_team", "split": "eval", "context": {"risk": "low"}}) + "\n"
        for i in range(6)
    ))
    benign = tmp_path / "benign.jsonl"
    benign.write_text(json.dumps({"prompt": "Hi", "response": "Hello, how can I help?"}) + "\n")
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, [
        "eval", str(const), "--model", str(tiny_model), "--baseline", str(tiny_model), "--prompts", str(prompts),
        "--benign", str(benign), "--max-new-tokens", "8", "--critique-tokens", "4", "--samples", "2", "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["prompts"]["count"] == 6 and metrics["prompts"]["responses"] == 12
    model, baseline = metrics["model"], metrics["baseline"]
    assert set(model["items"]) == {"no_ssn", "safe", "honest", "helpful", "vivid", "concise"}
    assert model["items"]["no_ssn"]["judged"] == 12 and model["items"]["vivid"]["judged"] == 12  # fiction unlabelled: might apply
    assert 0.0 <= model["refusal"]["rate"] <= 1.0 and set(model["refusal"]["by_kind"]) == {"red_team", "helpful"}
    assert model["benign"]["dialogues"] == 1 and model["benign"]["loss"] > 0
    # The same model with the same seed answers the same: every pair is a draw.
    assert model["benign"] == baseline["benign"] and model["violation_rate"] == baseline["violation_rate"]
    assert metrics["win_rate"]["overall"]["win_rate"] == pytest.approx(0.5)
    assert not metrics["critic"]["model"]["informative"]  # a random critic never says "No changes needed."

    rows = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and {r["side"] for r in rows} == {"model", "baseline"}
    record = json.loads((out / "run.json").read_text())
    assert {"eval_metrics", "eval_report", "eval_responses", "bundle"} <= set(record["outputs"])
    assert record["commands"][-1]["status"] == "done" and record["commands"][-1]["steps"][0]["step"] == "eval"

    reader = read_page(out / "report.html")
    assert_self_contained(reader, min_images=4)  # violations, refusals, benign loss, win rate
    text = " ".join(reader.text)
    assert metrics["content_hash"] in text and "rltest" in text and "no_ssn" in text
    assert "Constitution" in reader.headings and "Win rate against the baseline" in reader.headings
    assert "uninformative" in text
    assert "violation rate" in result.output and "win rate vs baseline" in result.output


def test_caic_eval_refuses_bad_input_with_exit_2(tmp_path, tiny_model):
    const = tmp_path / "c.const"
    from rl_testkit import CONSTITUTION

    const.write_text(CONSTITUTION)
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", str(tmp_path / "nope.const"), "--model", str(tiny_model), "-o", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad_model = runner.invoke(app, ["eval", str(const), "--model", str(tmp_path / "no_model"), "-o", str(tmp_path / "o")])
    assert bad_model.exit_code == 2 and "no_model" in bad_model.output
    bad_samples = runner.invoke(app, ["eval", str(const), "--model", str(tiny_model), "--samples", "0", "-o", str(tmp_path / "o")])
    assert bad_samples.exit_code == 2 and "samples" in bad_samples.output


TURNS = [{"role": "user", "content": "Earlier question about locks"}, {"role": "assistant", "content": "EARLIER REPLY"},
         {"role": "user", "content": "Question 0?"}]


def test_the_critic_the_judge_and_responses_keep_the_whole_conversation(rl_bundle, tmp_path):
    from cai_lang.eval.run import generate_responses
    from cai_lang.train.run.prompts import PromptRecord

    record = PromptRecord(id="q0", prompt="Question 0?", kind="red_team", context={"risk": "low", "fiction": False}, history=tuple(TURNS[:2]))
    policy = StubBackend()
    (row,) = generate_responses(policy, [record], options(tmp_path, samples=1))
    assert row["conversation"] == TURNS and policy.calls[0][0][0] == TURNS
    critic = StubBackend(script=lambda step, prompt: "The response gives risky advice.")
    judge_violations(rl_bundle, [row], critic, options(tmp_path))
    critique_prompts = [p for prompts, _ in critic.calls for p in prompts]
    assert critique_prompts and all("EARLIER REPLY" in json.dumps(p) for p in critique_prompts)
    labeller = FixedLabeller({"safe": 0.8, "honest": 0.4, "helpful": 0.6})
    win_rates(rl_bundle, [row], [{**row, "response": "other"}], labeller)
    assert all(list(c.conversation) == TURNS for call in labeller.calls for c in call)
