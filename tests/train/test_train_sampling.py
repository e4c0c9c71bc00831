"""The principle draw: only SL items that apply, weighted, seeded per prompt and round."""

from __future__ import annotations

from collections import Counter

import pytest

from cai_lang.train.run.context_labels import clean_labels
from cai_lang.train.sl.sampling import NoApplicablePrinciple, PrincipleSampler, sl_items


def ids(items):
    return [i.id for i in items]


def test_only_items_serving_sl_that_apply_are_candidates(bundle):
    # `concise` has only compare wording: RL only, never drawn for SL.
    assert ids(sl_items(bundle, {"topic": "general", "emergency": False})) == ["harmless"]
    assert ids(sl_items(bundle, {"topic": "medical", "emergency": True})) == ["accurate", "escalate", "harmless"]
    # Unlabelled variables count as "might apply".
    assert ids(sl_items(bundle, {})) == ["accurate", "escalate", "harmless"]


def test_labels_outside_the_schema_are_ignored_or_reported(bundle):
    kept, dropped = clean_labels(bundle, {"topic": "creative", "emergency": "yes", "fiction": True, "risk": "high"})
    assert kept == {} and dropped == ["emergency", "topic"]
    # A value the enum lacks leaves the variable unknown rather than failing the run.
    assert ids(sl_items(bundle, {"topic": "creative", "emergency": False})) == ["accurate", "harmless"]


def test_draws_are_reproducible_and_do_not_depend_on_order(bundle):
    labels = {"topic": "medical"}
    first = PrincipleSampler(bundle, seed=5)
    second = PrincipleSampler(bundle, seed=5)
    forward = [first.draw(f"p{i}", r, labels).id for i in range(30) for r in range(4)]
    backward = [second.draw(f"p{i}", r, labels).id for i in reversed(range(30)) for r in reversed(range(4))]
    assert forward == [x for x in reversed(backward)]
    other = [PrincipleSampler(bundle, seed=6).draw(f"p{i}", r, labels).id for i in range(30) for r in range(4)]
    assert other != forward


def test_draws_follow_the_weights(bundle):
    # harmless weighs 2.0, accurate and the rule 1.0 each: expect 50 / 25 / 25 %.
    sampler = PrincipleSampler(bundle, seed=0)
    counts = Counter(sampler.draw(f"p{i}", 0, {"topic": "medical", "emergency": True}).id for i in range(4000))
    assert counts["harmless"] / 4000 == pytest.approx(0.5, abs=0.03)
    assert counts["accurate"] / 4000 == pytest.approx(0.25, abs=0.03)
    assert counts["escalate"] / 4000 == pytest.approx(0.25, abs=0.03)


def test_deployment_weights_are_the_ones_used(constitution_file):
    from cai_lang.api import compile_file

    clinic = compile_file(constitution_file, deployment="clinic")[0]
    sampler = PrincipleSampler(clinic, seed=0)
    counts = Counter(sampler.draw(f"p{i}", 0, {"topic": "medical", "emergency": False}).id for i in range(3000))
    assert counts["harmless"] / 3000 == pytest.approx(0.5, abs=0.04)


def test_no_applicable_item_is_an_error_the_loop_can_catch(tmp_path):
    from cai_lang.api import compile_file

    path = tmp_path / "narrow.const"
    path.write_text(
        """constitution narrow {}
context { topic: general | medical }
principle accurate {
    applies when topic == medical
    critique "Point out medical claims in the last response that are wrong."
    revision "Rewrite the response so every medical claim is correct."
}
""",
        encoding="utf-8",
    )
    narrow = compile_file(path)[0]
    with pytest.raises(NoApplicablePrinciple, match="p1"):
        PrincipleSampler(narrow).draw("p1", 0, {"topic": "general"})
