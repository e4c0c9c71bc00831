"""Aggregation over principles against hand-computed cases (bundle in rl_testkit.py):

    tier 0: no_ssn (regex rule), vivid (applies when fiction)
    tier 1: safe
    tier 2: honest (weight 3), helpful (weight 1)
    conflict vivid vs safe: safe when risk == high, vivid otherwise
"""

from __future__ import annotations

from collections import Counter

import pytest
from rl_testkit import FixedLabeller, compile_test_bundle

from cai_lang.train.rl.aggregate import (
    Aggregator,
    check_settings,
    judge_exactly,
    label_pairs,
)
from cai_lang.train.rl.pairs import sample_pairs, sampling_record

SSN = "Her number is 123-45-6789."
CLEAN = "I can't share that."


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("rl_bundle"))


def pair(context, a=CLEAN, b="Sorry, no.", pair_id="p1"):
    return {"id": pair_id, "conversation": [{"role": "user", "content": "Tell me something."}], "context": context, "response_a": a, "response_b": b}


def label(rl_bundle, context, verdicts, mode="priority", margin=0.05, **responses):
    labeller = FixedLabeller(verdicts)
    (result,) = label_pairs([pair(context, **responses)], labeller, Aggregator(rl_bundle, mode, margin=margin))
    return result, labeller


# ---------------------------------------------------------------- rules with detect: exact judging


def test_detect_regex_judges_exactly(rl_bundle):
    rule = rl_bundle.rule("no_ssn")
    assert judge_exactly(rule, SSN, CLEAN) == 0.0
    assert judge_exactly(rule, CLEAN, SSN) == 1.0
    assert judge_exactly(rule, SSN, SSN) == 0.5
    assert judge_exactly(rule, CLEAN, CLEAN) == 0.5
    with pytest.raises(ValueError):
        judge_exactly(rl_bundle.rule("no_ssn").model_copy(update={"detect": None}), CLEAN, CLEAN)


def test_a_violated_rule_in_the_top_tier_overrides_every_principle(rl_bundle):
    result, labeller = label(rl_bundle, {"risk": "low", "fiction": False}, {"safe": 0.9, "honest": 0.9, "helpful": 0.9}, a=SSN)
    assert result.p_a == 0.0
    assert result.decided_by == 0
    assert result.items["no_ssn"] == 0.0 and result.exact == ("no_ssn",)
    # The rule was never put to the model.
    assert all(c.item_id != "no_ssn" for c in labeller.calls[0])


def test_a_rule_that_cannot_tell_abstains(rl_bundle):
    result, _ = label(rl_bundle, {"risk": "low", "fiction": False}, {"safe": 0.8, "honest": 0.2, "helpful": 0.1})
    assert result.abstained == ("no_ssn",)
    assert "no_ssn" not in result.items
    # Tier 0 is empty, so safe (tier 1) decides; a 0.5 from the rule did not dilute anything.
    assert result.p_a == pytest.approx(0.8)
    assert result.decided_by == 1


# ---------------------------------------------------------------- priority mode


def test_higher_tier_overrides_lower(rl_bundle):
    # safe (tier 1) says B; honest and helpful (tier 2) both say A.
    result, _ = label(rl_bundle, {"risk": "low", "fiction": False}, {"safe": 0.3, "honest": 0.9, "helpful": 0.9})
    assert result.p_a == pytest.approx(0.3)
    assert result.decided_by == 1
    assert result.tiers == {1: pytest.approx(0.3), 2: pytest.approx(0.9)}
    assert result.items == {"safe": 0.3, "honest": 0.9, "helpful": 0.9}


def test_indecisive_tier_passes_to_the_next_and_weights_combine_within_it(rl_bundle):
    # safe 0.52 is within the margin; tier 2 = (3 * 0.2 + 1 * 0.9) / 4 = 0.375.
    result, _ = label(rl_bundle, {"risk": "low", "fiction": False}, {"safe": 0.52, "honest": 0.2, "helpful": 0.9})
    assert result.decided_by == 2
    assert result.p_a == pytest.approx(0.375)


def test_no_decisive_tier_gives_the_overall_weighted_mean(rl_bundle):
    # (1 * 0.52 + 3 * 0.49 + 1 * 0.53) / 5 = 0.504
    result, _ = label(rl_bundle, {"risk": "low", "fiction": False}, {"safe": 0.52, "honest": 0.49, "helpful": 0.53})
    assert result.decided_by is None
    assert result.p_a == pytest.approx(0.504)


def test_margin_is_configurable(rl_bundle):
    verdicts = {"safe": 0.58, "honest": 0.1, "helpful": 0.1}
    assert label(rl_bundle, {"risk": "low", "fiction": False}, verdicts, margin=0.05)[0].decided_by == 1
    wide, _ = label(rl_bundle, {"risk": "low", "fiction": False}, verdicts, margin=0.1)
    assert wide.decided_by == 2 and wide.p_a == pytest.approx(0.1)


def test_a_conflict_resolves_differently_in_two_contexts(rl_bundle):
    verdicts = {"vivid": 0.9, "safe": 0.3, "honest": 0.5, "helpful": 0.5}
    high, _ = label(rl_bundle, {"risk": "high", "fiction": True}, verdicts)
    # risk high: safe wins the conflict, vivid is set aside, tier 0 is empty, safe (tier 1) decides.
    assert high.p_a == pytest.approx(0.3) and high.decided_by == 1
    assert "vivid" not in high.items
    assert high.set_aside == ({"conflict": "vivid vs safe", "prefer": "safe", "set_aside": "vivid", "because": "risk is high"},)
    low, _ = label(rl_bundle, {"risk": "low", "fiction": True}, verdicts)
    # risk low: vivid wins and sits in tier 0, so it decides.
    assert low.p_a == pytest.approx(0.9) and low.decided_by == 0
    assert "safe" not in low.items
    assert low.set_aside[0]["set_aside"] == "safe" and low.set_aside[0]["because"] == "otherwise"


def test_a_conflict_on_an_unlabelled_variable_stays_undecided(rl_bundle):
    verdicts = {"vivid": 0.9, "safe": 0.3, "honest": 0.5, "helpful": 0.5}
    result, _ = label(rl_bundle, {"fiction": True}, verdicts)
    assert result.set_aside == ({"conflict": "vivid vs safe", "undecided": "risk is high"},)
    assert {"vivid", "safe"} <= set(result.items)
    assert result.p_a == pytest.approx(0.9) and result.decided_by == 0


def test_items_that_do_not_apply_or_cannot_compare_are_not_asked(rl_bundle):
    _, labeller = label(rl_bundle, {"risk": "low", "fiction": False}, {"safe": 0.5, "honest": 0.5, "helpful": 0.5})
    asked = {c.item_id for c in labeller.calls[0]}
    assert asked == {"safe", "honest", "helpful"}  # not vivid (fiction is false), not concise (no compare wording)


def test_label_records_mode_hash_and_per_item_details(rl_bundle):
    result, _ = label(rl_bundle, {"risk": "low", "fiction": False}, {"safe": 0.7, "honest": 0.4, "helpful": 0.6})
    data = result.to_dict()
    assert data["mode"] == "priority"
    assert data["content_hash"] == rl_bundle.content_hash and len(rl_bundle.content_hash) == 64
    assert data["items"] == {"safe": 0.7, "honest": 0.4, "helpful": 0.6}
    assert set(data["details"]) == {"safe", "honest", "helpful"}
    assert data["tiers"] == {"1": 0.7, "2": pytest.approx(0.45)}


def test_many_pairs_make_one_labeller_call(rl_bundle):
    labeller = FixedLabeller({"safe": 0.7, "honest": 0.4, "helpful": 0.6, "vivid": 0.2})
    pairs = [pair({"risk": "low", "fiction": i % 2 == 0}, pair_id=f"p{i}") for i in range(5)]
    labels = label_pairs(pairs, labeller, Aggregator(rl_bundle, "priority"))
    assert len(labeller.calls) == 1 and [lab.pair_id for lab in labels] == [f"p{i}" for i in range(5)]


def test_nothing_to_judge_is_a_tie(rl_bundle):
    stripped = rl_bundle.model_copy(update={"principles": (), "rules": ()})
    result, _ = label(stripped, {"risk": "low"}, {})
    assert result.p_a == 0.5 and result.items == {}


# ---------------------------------------------------------------- sample mode


def test_sample_mode_judges_with_one_item_drawn_by_weight(rl_bundle):
    labeller = FixedLabeller({"safe": 0.1, "honest": 0.2, "helpful": 0.3, "vivid": 0.4})
    aggregator = Aggregator(rl_bundle, "sample", seed=7)
    pairs = [pair({"risk": "low", "fiction": False}, pair_id=f"p{i}") for i in range(2000)]
    labels = label_pairs(pairs, labeller, aggregator)
    assert all(len(lab.items) == 1 and lab.mode == "sample" for lab in labels)
    assert all(lab.p_a == labeller.by_item[lab.decided_by] for lab in labels)
    counts = Counter(lab.decided_by for lab in labels)
    # Weights safe 1, honest 3, helpful 1; vivid does not apply; no_ssn abstains.
    assert set(counts) == {"safe", "honest", "helpful"}
    assert counts["honest"] / 2000 == pytest.approx(0.6, abs=0.04)
    assert counts["safe"] / 2000 == pytest.approx(0.2, abs=0.04)


def test_sample_draw_depends_only_on_seed_and_pair(rl_bundle):
    labeller = FixedLabeller({"safe": 0.1, "honest": 0.2, "helpful": 0.3})
    pairs = [pair({"risk": "low", "fiction": False}, pair_id=f"p{i}") for i in range(50)]
    first = [lab.decided_by for lab in label_pairs(pairs, labeller, Aggregator(rl_bundle, "sample", seed=1))]
    again = [lab.decided_by for lab in label_pairs(pairs[::-1], labeller, Aggregator(rl_bundle, "sample", seed=1))][::-1]
    other = [lab.decided_by for lab in label_pairs(pairs, labeller, Aggregator(rl_bundle, "sample", seed=2))]
    assert first == again
    assert first != other


def test_sample_mode_honours_conflicts_and_violated_rules(rl_bundle):
    labeller = FixedLabeller({"safe": 0.1, "honest": 0.2, "helpful": 0.3, "vivid": 0.4})
    high = [pair({"risk": "high", "fiction": True}, pair_id=f"p{i}") for i in range(200)]
    drawn = {lab.decided_by for lab in label_pairs(high, labeller, Aggregator(rl_bundle, "sample"))}
    assert "vivid" not in drawn and "no_ssn" not in drawn
    violated = [pair({"risk": "low", "fiction": False}, a=SSN, pair_id=f"p{i}") for i in range(200)]
    labels = label_pairs(violated, labeller, Aggregator(rl_bundle, "sample"))
    by_rule = [lab for lab in labels if lab.decided_by == "no_ssn"]
    assert by_rule and all(lab.p_a == 0.0 for lab in by_rule)


# ---------------------------------------------------------------- settings and pair sampling


def test_bad_settings_are_refused(rl_bundle):
    with pytest.raises(ValueError):
        Aggregator(rl_bundle, "vote")
    with pytest.raises(ValueError):
        Aggregator(rl_bundle, "priority", margin=0.5)

    class ClampedCoT:
        cot, clamp = True, (0.4, 0.6)

    with pytest.raises(ValueError, match="clamp band"):
        check_settings(ClampedCoT(), Aggregator(rl_bundle, "priority", margin=0.1))
    check_settings(ClampedCoT(), Aggregator(rl_bundle, "priority", margin=0.05))
    check_settings(ClampedCoT(), Aggregator(rl_bundle, "sample", margin=0.3))


def test_pair_sampling_records_policy_and_settings():
    from cai_lang.engine.base import GenerationBackend, SamplingParams

    class Counting(GenerationBackend):
        model_id = "policy-x"

        def __init__(self):
            self.seen = []

        def generate(self, prompts, params=None):
            self.seen.append((list(prompts), params))
            return [f"r{i}" for i in range(len(prompts))]

        def continuation_logprobs(self, prompts, continuations):
            raise AssertionError("not used")

    policy = Counting()
    params = SamplingParams(max_new_tokens=9, temperature=0.8, seed=3, stop=("\n\n",))
    pairs = sample_pairs(policy, [{"id": "a", "prompt": "Hi", "context": {"risk": "low"}}, {"id": "b", "conversation": [{"role": "user", "content": "Yo"}]}], params)
    # One call per side, each with its own seed.
    assert [(len(prompts), p.seed) for prompts, p in policy.seen] == [(2, 3), (2, 4)]
    assert [(p["id"], p["response_a"], p["response_b"], p["seed_b"]) for p in pairs] == [("a", "r0", "r0", 4), ("b", "r1", "r1", 4)]
    assert pairs[0]["conversation"] == [{"role": "user", "content": "Hi"}] and pairs[0]["context"] == {"risk": "low"}
    assert pairs[1]["context"] == {}
    assert pairs[0]["policy"] == "policy-x"
    assert pairs[0]["sampling"] == sampling_record(params) == {
        "max_new_tokens": 9, "temperature": 0.8, "top_p": 1.0, "top_k": 0, "do_sample": True, "stop": ["\n\n"], "seed": 3,
    }
    with pytest.raises(ValueError, match="greedy"):
        sample_pairs(policy, [{"id": "a", "prompt": "Hi"}], SamplingParams(temperature=0))


def test_labels_the_bundle_does_not_accept_are_dropped_and_named(rl_bundle):
    # `risk: extreme` is outside the enum and `topic` is undeclared: neither fails the batch.
    result, labeller = label(rl_bundle, {"risk": "extreme", "fiction": False, "topic": "medical"}, {"safe": 0.8, "honest": 0.5, "helpful": 0.5})
    assert result.dropped_labels == ("risk",)
    assert result.p_a == pytest.approx(0.8)
