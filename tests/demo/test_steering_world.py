"""The steering demo's synthetic world and summary: the two traits are independent coin flips that the
surface-form measure counts exactly, every comparison example's answer follows its question, the
constitution's questions are not the ones pre-training taught, and no rule with a regex is involved."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

STEERING = Path(__file__).resolve().parents[2] / "examples" / "steering"
sys.path.insert(0, str(STEERING))

import world  # noqa: E402

# examples/demo has a summary.py too (tests/demo/test_demo_corpus.py imports it as `summary`): load this one by path.
_spec = importlib.util.spec_from_file_location("steering_summary", STEERING / "summary.py")
summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("steering_corpus")
    counts = world.write_corpus(out, dialogues=1000, comparisons=600, neutral_share=1 / 3, seed=0)
    return out, counts, world.read_jsonl(out / "corpus.jsonl")


def test_traits_are_independent_coin_flips_that_the_measure_counts_exactly(corpus):
    _, counts, rows = corpus
    dialogues = [r for r in rows if r["kind"] == "dialogue"]
    assert counts["dialogues"] == len(dialogues) == 1000
    for row in dialogues:
        assert world.trait_of(row["messages"][1]["content"]) == {"hedge": row["hedge"], "refer": row["refer"]}
    for trait in world.TRAITS:
        assert 0.45 <= counts[f"{trait}_share"] <= 0.55
    both = sum(r["hedge"] and r["refer"] for r in dialogues) / len(dialogues)
    assert both == pytest.approx(counts["hedge_share"] * counts["refer_share"], abs=0.04)


def test_each_comparison_answer_follows_its_question_and_neutral_ones_follow_a_coin(corpus):
    _, counts, rows = corpus
    comparisons = [r for r in rows if r["kind"] == "comparison"]
    assert len(comparisons) == 600
    seen, neutral_answers = set(), []
    for row in comparisons:
        shown = row["messages"][0]["content"]
        a = shown.split("\n(A) ")[1].split("\n(B) ")[0]
        b = shown.split("\n(B) ")[1].split("\n\nReply with")[0]
        trait, more = row["trait"], row["more"]
        if trait == "neutral":
            assert any(phrase in shown for phrase in world.NEUTRAL)
            neutral_answers.append(row["messages"][1]["content"])
            continue
        assert world.trait_of(a)[trait] != world.trait_of(b)[trait]
        winner = a if row["messages"][1]["content"] == "(A)" else b
        assert world.trait_of(winner)[trait] == more
        seen.add((trait, more))
    assert seen == {(t, m) for t in world.TRAITS for m in (True, False)}
    # About a third ask about something else, and their answers are a fair coin.
    assert counts["neutral_comparisons"] == len(neutral_answers) and 150 <= len(neutral_answers) <= 250
    assert 0.4 <= neutral_answers.count("(A)") / len(neutral_answers) <= 0.6


def test_the_controls_questions_share_no_content_word_with_the_neutral_ones():
    from cai_lang.api import compile_file

    (bundle,) = compile_file(STEERING / "steering.const", deployment="control")
    control = " ".join(p.wording.comparison_question for p in bundle.principles).lower()
    frame_words = {"which", "of", "the", "assistant's", "replies", "a"}
    asked = set(control.replace("?", " ").split()) - frame_words
    taught = set(" ".join(world.NEUTRAL).lower().split())
    assert asked and not asked & taught, asked & taught


def test_held_out_prompts_never_meet_training(corpus):
    out, counts, rows = corpus
    trained = {r["messages"][0]["content"] for r in rows if r["kind"] == "dialogue"}
    prompts = world.read_jsonl(out / "prompts.jsonl")
    held = {p["prompt"] for p in prompts if p["split"] == "eval"}
    assert len(held) == counts["prompts_eval"] == 120 and not trained & held
    benign = world.read_jsonl(out / "benign.jsonl")
    assert {b["messages"][0]["content"] for b in benign} <= held
    # Benign replies are the advice alone: the held-out loss measures what no principle asks to change.
    assert not any(any(world.trait_of(b["messages"][1]["content"]).values()) for b in benign)


def test_the_corpus_is_deterministic(tmp_path):
    for name in ("a", "b"):
        world.write_corpus(tmp_path / name, dialogues=100, comparisons=50, seed=4)
    for name in ("corpus.jsonl", "prompts.jsonl", "benign.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_constitution_has_no_regex_and_asks_questions_pretraining_never_asked(corpus):
    from cai_lang.api import compile_file

    _, _, rows = corpus
    text = "\n".join(r["messages"][0]["content"] for r in rows if r["kind"] == "comparison")
    taught = {q for t in world.TRAITS for m in (True, False) for q in world.questions(t, m)}
    taught |= {frame.format(p=phrase) for frame in world.FRAMES for phrase in world.NEUTRAL}
    for deployment in ("humble", "hands_on", "control"):
        (bundle,) = compile_file(STEERING / "steering.const", deployment=deployment)
        assert not bundle.rules
        asked = {p.id: p.wording.comparison_question for p in bundle.principles}
        for question in asked.values():
            assert question not in taught and question not in text
        weights = {p.id: p.weight for p in bundle.principles}
        favoured = {"humble": "candid", "hands_on": "self_reliant", "control": "names_a_day"}[deployment]
        assert weights[favoured] == 9.0 and sorted(weights.values()) == [1.0, 9.0]


def fake_eval(folder: Path, responses: list[str], loss: float):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"model": {"benign": {"loss": loss}}}))
    (folder / "responses.jsonl").write_text("".join(json.dumps({"side": "model", "response": r}) + "\n" for r in responses))


def fake_run(folder: Path, pairs: list[tuple[str, str, float]]):
    folder.mkdir(parents=True)
    (folder / "rl_pairs.jsonl").write_text("".join(json.dumps({"id": str(i), "response_a": a, "response_b": b}) + "\n" for i, (a, b, _) in enumerate(pairs)))
    (folder / "rl_labels.jsonl").write_text("".join(json.dumps({"pair_id": str(i), "p_a": p}) + "\n" for i, (_, _, p) in enumerate(pairs)))
    (folder / "run.json").write_text(json.dumps({"outputs": {"rl_policy": {"path": "rl_policy", "steps": 30}}}))


def test_summary_counts_traits_per_seed_and_label_agreement(tmp_path):
    hedged, plain, referred = "Try it. Treat this as a rough guess.", "Try it.", "Try it. A qualified plumber should look at it."
    for seed, after in (("0", [hedged, hedged, plain, referred]), ("1", [hedged, hedged, hedged, plain])):
        fake_eval(tmp_path / f"eval_base_s{seed}", [hedged, plain, plain, referred], 1.0)
        fake_eval(tmp_path / f"eval_humble_s{seed}", after, 1.1)
        fake_run(tmp_path / f"humble_s{seed}", [(hedged, plain, 0.9), (plain, hedged, 0.45), (referred, plain, 0.2)])
    result = summary.summarise_deployment(tmp_path, "humble", ["0", "1"])
    assert result["hedge"]["before"]["mean"] == 0.25
    assert result["hedge"]["change"]["per_seed"] == [0.25, 0.5] and result["hedge"]["same_sign_all_seeds"]
    assert result["refer"]["change"]["per_seed"] == [0.0, -0.25] and not result["refer"]["same_sign_all_seeds"]
    assert result["benign_loss"]["change"]["mean"] == pytest.approx(0.1)
    # The 0.45 label is not decisive; the hedge pair agrees, the refer pair prefers the plain reply.
    assert result["labels"]["hedge"] == {"prefers_trait": [1.0, 1.0], "pairs": [1, 1]}
    assert result["labels"]["refer"] == {"prefers_trait": [0.0, 0.0], "pairs": [1, 1]}
    assert result["dpo"] == [{"trained": True, "steps": 30, "decisive_labels": 2}] * 2
