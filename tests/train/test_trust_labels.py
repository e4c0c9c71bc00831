"""Issue 23: the trust statistics, and `caic labels` flagging a principle whose feedback is pure noise.

The labels come from the real labeller and aggregator (`label_pairs`) over a
feedback stub that answers at random for `helpful` (each order's answer an
independent coin) and by a fixed quality for `safe` and `honest`, so the
only thing told apart is how the answers were made.
"""

from __future__ import annotations

import json
import random
import subprocess

import pytest
from rl_testkit import ControlledBackend, compile_test_bundle, shown_responses
from train_testkit import caic_command

from cai_lang.trust.stats import calibration_bins, cohen_kappa, expected_calibration_error, wilson_interval


def test_wilson_interval_known_values():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


def test_ece_and_bins():
    # Predictions of 0.8 that come true 4 times in 5: calibrated; of 0.2 that always come true: off by 0.8.
    assert expected_calibration_error([0.8] * 5, [1, 1, 1, 1, 0]) == pytest.approx(0.0)
    assert expected_calibration_error([0.2] * 4, [1, 1, 1, 1]) == pytest.approx(0.8)
    mixed = expected_calibration_error([0.8] * 5 + [0.2] * 5, [1, 1, 1, 1, 0] + [1, 1, 1, 1, 1])
    assert mixed == pytest.approx(0.5 * 0.0 + 0.5 * 0.8)
    bins = calibration_bins([0.0, 1.0, 0.55], [0, 1, 1], bins=10)
    assert bins[0].count == 1 and bins[9].count == 1 and bins[5].count == 1 and bins[5].observed == 1.0
    assert expected_calibration_error([], []) is None


def test_cohen_kappa_known_value():
    # The textbook table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    first = ["y"] * 25 + ["n"] * 25
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert cohen_kappa([], []) is None


class NoisyForOne(ControlledBackend):
    """`helpful` answers each order with an independent coin; the other principles by response quality."""

    def __init__(self, quality, seed=0):
        super().__init__(quality)
        self.rng = random.Random(seed)
        self.coins: dict[str, float] = {}

    def continuation_logprobs(self, prompts, continuations):
        scores = super().continuation_logprobs(prompts, continuations)
        for k, prompt in enumerate(prompts):
            text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
            if "answers the exact question" in text:
                key = repr(shown_responses(prompt))
                coin = self.coins.setdefault(key, self.rng.choice([-3.0, 3.0]))
                letter = continuations[k].strip().strip("()")
                scores[k] = (coin if letter == "A" else 0.0) - 7.0
        return scores


def _stub_run(folder, pairs=40):
    from cai_lang.train.rl.aggregate import Aggregator, label_pairs
    from cai_lang.train.rl.labeller import ComparisonLabeller

    bundle = compile_test_bundle(folder)
    rows, quality = [], {}
    for i in range(pairs):
        good, bad = f"careful answer {i}", f"sloppy answer {i}"
        quality[good], quality[bad] = 1.5, -1.5
        a, b = (good, bad) if i % 2 else (bad, good)
        rows.append({"id": f"p{i:03d}", "conversation": [{"role": "user", "content": f"question {i}"}], "context": {"risk": "low", "fiction": False},
                     "response_a": a, "response_b": b})
    labeller = ComparisonLabeller(bundle, [NoisyForOne(quality)])
    labels = label_pairs(rows, labeller, Aggregator(bundle, "priority"))
    run = folder / "run"
    run.mkdir()
    (run / "rl_pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "rl_labels.jsonl").write_text("".join(json.dumps({**label.to_dict(), "feedback_models": ["stub"]}) + "\n" for label in labels))
    return bundle, run, rows, labels


def test_reliability_flags_the_noise_principle_only(tmp_path):
    from cai_lang.trust.reliability import flagged_items, reliability

    _, run, _, _ = _stub_run(tmp_path)
    table = {entry.item: entry for entry in reliability(json.loads(line) for line in (run / "rl_labels.jsonl").read_text().splitlines())}
    assert set(table) == {"safe", "honest", "helpful"}
    assert table["safe"].flips == 0.0 and table["honest"].flips == 0.0
    assert 0.2 < table["helpful"].flips < 0.8  # a coin per order: about half flip
    assert flagged_items(list(table.values())) == {"helpful": "its two orders agree no more often than chance (stub)"}


def test_caic_labels_prints_table_flags_and_quarantines(tmp_path, subprocess_env):
    from cai_lang.train.rl.aggregate import Aggregator
    from cai_lang.trust.reliability import quarantine_labels

    bundle, run, _, labels = _stub_run(tmp_path)
    done = subprocess.run([*caic_command(), "labels", str(run), "--quarantine"], capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["principle", "feedback", "model"]
    assert any(line.startswith("helpful") and "agree no more often than chance" in line for line in lines)
    assert "flagged: helpful: its two orders agree no more often than chance (stub)" in done.stdout
    assert not any(line.startswith("flagged: safe") or line.startswith("flagged: honest") for line in lines)
    record = json.loads((run / "run.json").read_text())
    assert record["quarantine"]["items"] == ["helpful"]
    # What training then uses: labels recombined without `helpful`.
    rows = [label.to_dict() for label in labels]
    kept, changed = quarantine_labels(rows, ["helpful"], Aggregator(bundle, "priority"))
    assert all("helpful" not in row["items"] for row in kept) and changed >= 0
    assert all(row["quarantined"] == ["helpful"] for row in kept)


def test_training_report_shows_reliability_and_human_agreement(tmp_path, subprocess_env):
    from cai_lang.report.html import write_training_report
    from cai_lang.train.run.record import RunRecord
    from cai_lang.trust.decisions import DECISIONS, DecisionLog, agreement, ai_view, decisions_as_preferences, pair_hash

    _, run, rows, labels = _stub_run(tmp_path, pairs=12)
    done = subprocess.run([*caic_command(), "labels", str(run), "--quarantine"], capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert done.returncode == 0, done.stderr
    log = DecisionLog(run / DECISIONS)
    by_id = {label.pair_id: label.to_dict() for label in labels}
    for reviewer, choices in (("alice", "ababab"), ("bob", "abbbab")):
        for row, choice in zip(rows, choices):
            log.append({"reviewer": reviewer, "pair_id": row["id"], "content_hash": pair_hash(row), "decision": choice, "ai": ai_view(by_id[row["id"]])})
    log.append({"reviewer": "alice", "pair_id": "p011", "content_hash": "0" * 64, "decision": "a", "ai": ai_view(None)})
    figures = agreement(log.latest().values())
    # alice and bob agree on 5 of 6 shared pairs: p_o = 5/6, p_e = (3*2 + 3*4)/36 = 0.5, kappa = 2/3.
    assert figures["kappa"]["alice vs bob"]["pairs"] == 6 and figures["kappa"]["alice vs bob"]["kappa"] == pytest.approx(2 / 3)
    assert set(figures["items"]) >= {"safe", "honest", "helpful", "(overall label)"}
    _, counts = decisions_as_preferences(run / DECISIONS)
    assert counts["rows"] == 12 and counts["changed_pair"] == 1  # a decision on other text is counted, not trained on
    page = write_training_report(run, RunRecord.open(run), run / "report.html", run / "plots").read_text()
    assert "Reliability of the AI labels" in page and "Quarantined (left out of training, recorded in run.json): helpful" in page
    assert "Human review" in page and "Cohen&#39;s kappa, alice vs bob: 0.667 over 6 shared pairs." in page


def test_ensemble_and_detector_figures(tmp_path):
    """Two feedback models (one reversed on `honest`) and pairs a regex rule decides: per-model rows, model agreement, detector agreement."""
    from cai_lang.train.rl.aggregate import Aggregator, label_pairs
    from cai_lang.train.rl.labeller import ComparisonLabeller
    from cai_lang.trust.reliability import ALL_MODELS, reliability

    class Contrary(ControlledBackend):
        model_id = "contrary"

        def continuation_logprobs(self, prompts, continuations):
            scores = super().continuation_logprobs(prompts, continuations)
            for k, prompt in enumerate(prompts):
                text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
                if "more honest" in text:
                    first, second = shown_responses(prompt)
                    letter = continuations[k].strip().strip("()")
                    scores[k] = -self.quality[first if letter == "A" else second] - 7.0
            return scores

    bundle = compile_test_bundle(tmp_path)
    rows, quality = [], {}
    for i in range(8):
        good, bad = f"careful answer {i}", f"sloppy answer {i}" + (" 123-45-6789" if i < 4 else "")
        quality[good], quality[bad] = 1.0, -1.0
        rows.append({"id": f"p{i}", "conversation": [{"role": "user", "content": "q"}], "context": {"risk": "low", "fiction": False},
                     "response_a": good, "response_b": bad})
    labeller = ComparisonLabeller(bundle, [ControlledBackend(quality), Contrary(quality)])
    labels = [{**label.to_dict(), "feedback_models": ["plain", "contrary"]} for label in label_pairs(rows, labeller, Aggregator(bundle, "priority"))]
    table = {(entry.item, entry.model): entry for entry in reliability(labels)}
    assert {("safe", "plain"), ("safe", "contrary"), ("safe", ALL_MODELS), ("honest", "contrary"), ("no_ssn", ALL_MODELS)} <= set(table)
    assert table[("safe", ALL_MODELS)].model_agreement.value == 1.0
    assert table[("honest", ALL_MODELS)].model_agreement.value == 0.0
    assert table[("no_ssn", ALL_MODELS)].exact and table[("no_ssn", ALL_MODELS)].flag is None
    # The rule decided 4 pairs for A; the plain model agrees on all, the contrary one on `honest` never.
    assert table[("safe", "plain")].detector_agreement.to_dict()["successes"] == 4 and table[("safe", "plain")].detector_agreement.n == 4
    assert table[("honest", "contrary")].detector_agreement.value == 0.0
    assert table[("honest", "plain")].order_agreement.value == 1.0 and table[("honest", "contrary")].order_agreement.value == 1.0
