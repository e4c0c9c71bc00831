"""Pairs and labels chunk by chunk: what the rows record, seeds fixed per chunk, exact resume, and rows made
under another bundle refused. Scripted backends, no model."""

from __future__ import annotations

import json

import pytest
from rl_testkit import ControlledBackend, compile_test_bundle, shown_responses

from cai_lang.train.rl.aggregate import Aggregator
from cai_lang.train.rl.generate import (
    IdenticalPairsError,
    RLGenerationConfig,
    generate_rl,
    label_summary,
)
from cai_lang.train.rl.labeller import ComparisonLabeller
from cai_lang.train.run.folder import RowWriter, RunError, check_hashes, read_rows
from cai_lang.train.run.prompts import PromptRecord

RECORDS = [PromptRecord(id=f"p{i}", prompt=f"How do I sharpen knife {i}?", kind="red_team", context={"risk": "low", "fiction": False}) for i in range(5)]


class PairPolicy(ControlledBackend):
    """Answers depend on the prompt, the row and the call's seed only; the feedback side prefers longer answers."""

    model_id = "pair-policy"

    def __init__(self):
        super().__init__({}, position_bias=0.3)

    def generate(self, prompts, params=None):
        self.generate_calls.append((list(prompts), params))
        if params.greedy:  # the labeller's reasoning step
            return [self.reasoning for _ in prompts]
        user = [p[-1]["content"] if isinstance(p, list) else p for p in prompts]
        return [f" {u.split()[-1]} seed {params.seed % 97} row {i}{'!' * (i % 3)} " for i, u in enumerate(user)]

    def continuation_logprobs(self, prompts, continuations):
        self.score_calls.append((list(prompts), list(continuations)))
        out = []
        for prompt, option in zip(prompts, continuations):
            first, second = shown_responses(prompt)
            letter = option.strip().strip("()")
            out.append(0.1 * len(first if letter == "A" else second) + (self.position_bias if letter == "A" else 0.0) - 7.0)
        return out


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("rl_generate"))


def run(bundle, folder, config, backend=None, records=RECORDS):
    backend = backend or PairPolicy()
    labeller = ComparisonLabeller(bundle, [backend], cot=config.cot, clamp=config.clamp, cot_params=config.cot_params(), ensemble=config.ensemble)
    with RowWriter(folder / "pairs.jsonl") as pairs, RowWriter(folder / "labels.jsonl") as labels:
        on_disk = {row["id"]: row for row in read_rows(folder / "pairs.jsonl")}
        stats = generate_rl(
            records, policy=backend, labeller=labeller, aggregator=Aggregator(bundle, config.mode, margin=config.margin, seed=config.seed),
            bundle=bundle, config=config, pair_writer=pairs, label_writer=labels, pairs_on_disk=on_disk,
            policy_id="policy-x", feedback_ids=["feedback-y"],
        )
    return stats, backend, read_rows(folder / "pairs.jsonl"), read_rows(folder / "labels.jsonl")


def test_every_prompt_gets_a_pair_and_a_label_that_records_how_it_was_made(rl_bundle, tmp_path):
    config = RLGenerationConfig(chunk_size=2, seed=4, max_new_tokens=12, mode="priority")
    stats, backend, pairs, labels = run(rl_bundle, tmp_path, config)
    assert [p["id"] for p in pairs] == [l["id"] for l in labels] == [r.id for r in RECORDS]
    assert stats.pairs_written == stats.labels_written == 5 and stats.chunks_sampled == 3
    # Two generate calls per chunk (side A, then side B), every call with its own seed.
    assert [len(prompts) for prompts, _ in backend.generate_calls] == [2, 2, 2, 2, 1, 1]
    seeds = [params.seed for _, params in backend.generate_calls]
    assert len(set(seeds)) == 6 and (pairs[0]["sampling"]["seed"], pairs[0]["seed_b"]) == (seeds[0], seeds[1])
    pair = pairs[0]
    assert pair["response_a"] != pair["response_b"] and pair["response_a"] == pair["response_a"].strip()
    assert pair["sampling"]["temperature"] == 1.0 and pair["sampling"]["max_new_tokens"] == 12
    assert pair["policy"] == "policy-x" and pair["content_hash"] == rl_bundle.content_hash and pair["conversation"][0]["role"] == "user"
    for label in labels:
        assert 0.0 <= label["p_a"] <= 1.0 and label["pair_id"] == label["id"]
        assert label["mode"] == "priority" and label["content_hash"] == rl_bundle.content_hash
        assert set(label["items"]) >= {"safe", "honest", "helpful"} and label["feedback_models"] == ["feedback-y"]
        assert label["margin"] == 0.05 and label["cot"] is False and label["clamp"] is None
    # The longer answer wins, position bias cancelled by scoring both orders.
    longer_a = [len(p["response_a"]) > len(p["response_b"]) for p in pairs]
    assert [l["p_a"] > 0.5 for l in labels if l["p_a"] != 0.5] == [a for a, l in zip(longer_a, labels) if l["p_a"] != 0.5]


def test_a_resumed_run_ends_with_the_files_of_an_uninterrupted_one(rl_bundle, tmp_path):
    config = RLGenerationConfig(chunk_size=2, seed=1, mode="sample")
    clean = tmp_path / "clean"
    _, _, pairs, labels = run(rl_bundle, clean, config)
    # A kill after the second chunk's pairs were written but before its labels, mid-way through a label line.
    cut = tmp_path / "cut"
    cut.mkdir()
    pair_lines = (clean / "pairs.jsonl").read_text().splitlines(keepends=True)
    label_lines = (clean / "labels.jsonl").read_text().splitlines(keepends=True)
    (cut / "pairs.jsonl").write_text("".join(pair_lines[:4]))
    (cut / "labels.jsonl").write_text("".join(label_lines[:2]) + label_lines[2][:40])
    stats, backend, resumed_pairs, resumed_labels = run(rl_bundle, cut, config)
    assert resumed_pairs == pairs and resumed_labels == labels
    # Chunk 1 kept its pairs on disk and was only labelled; chunk 2 was sampled and labelled.
    assert stats.chunks_sampled == 1 and stats.chunks_labelled == 2 and stats.pairs_written == 1 and stats.labels_written == 3
    assert len(backend.generate_calls) == 2


def test_rows_made_under_another_bundle_are_refused(rl_bundle, tmp_path):
    rows = [{"id": "a", "content_hash": rl_bundle.content_hash}, {"id": "b", "content_hash": "0" * 64}]
    with pytest.raises(RunError, match="'b' was made with bundle 0000000000000000"):
        check_hashes(rows, rl_bundle.content_hash, "labels.jsonl")


@pytest.mark.parametrize(
    "settings, words",
    [({"temperature": 0.0}, "temperature above 0"), ({"cot": True, "margin": 0.1}, "not below the CoT clamp band"),
     ({"clamp": (0.6, 0.9)}, "clamp band"), ({"mode": "vote"}, "mode"), ({"ensemble": "max"}, "ensemble")],
)
def test_settings_that_cannot_work_are_refused(settings, words):
    with pytest.raises(ValueError, match=words):
        RLGenerationConfig(**settings)


def test_cot_labels_are_clamped_and_say_so(rl_bundle, tmp_path):
    config = RLGenerationConfig(chunk_size=8, cot=True, clamp=(0.45, 0.55), margin=0.01)
    _, backend, _, labels = run(rl_bundle, tmp_path, config)
    assert all(0.45 <= l["p_a"] <= 0.55 for l in labels) and labels[0]["clamp"] == [0.45, 0.55]
    assert backend.generate_calls[2][1].greedy  # after the two sampling calls, the reasoning is decoded greedily
    summary = label_summary(labels)
    assert summary["labels"] == 5 and summary["max_p_a"] <= 0.55 and json.dumps(summary)


class SeedBlindPolicy(PairPolicy):
    """A server that ignores the seed and the sampling: the same request gives the same text."""

    def generate(self, prompts, params=None):
        self.generate_calls.append((list(prompts), params))
        return [f"the one answer to {p[-1]['content'] if isinstance(p, list) else p}" for p in prompts]


def test_a_policy_returning_one_response_twice_is_refused_before_any_row_is_written(rl_bundle, tmp_path):
    config = RLGenerationConfig(chunk_size=3, seed=2)
    with pytest.raises(IdenticalPairsError, match="all 3 pairs of a chunk hold the same response twice"):
        run(rl_bundle, tmp_path, config, backend=SeedBlindPolicy())
    assert read_rows(tmp_path / "pairs.jsonl") == [] and read_rows(tmp_path / "labels.jsonl") == []


def test_a_single_identical_pair_is_counted_not_refused(rl_bundle, tmp_path):
    class OneTie(PairPolicy):
        def generate(self, prompts, params=None):
            out = super().generate(prompts, params)
            return ["same" if "knife 0" in str(p) else text for p, text in zip(prompts, out)]

    stats, _, pairs, _ = run(rl_bundle, tmp_path, RLGenerationConfig(chunk_size=5, seed=2), backend=OneTie())
    assert stats.identical_pairs == 1 and pairs[0]["response_a"] == pairs[0]["response_b"] == "same"


def test_sampling_and_labelling_report_their_engine_work_inside_the_chunk(rl_bundle, tmp_path):
    config = RLGenerationConfig(seed=3, chunk_size=5)
    backend = PairPolicy()
    labeller = ComparisonLabeller(rl_bundle, [backend])
    events: list[tuple] = []
    with RowWriter(tmp_path / "pairs.jsonl") as pairs, RowWriter(tmp_path / "labels.jsonl") as labels:
        generate_rl(
            RECORDS, policy=backend, labeller=labeller, aggregator=Aggregator(rl_bundle, config.mode, margin=config.margin, seed=config.seed),
            bundle=rl_bundle, config=config, pair_writer=pairs, label_writer=labels, pairs_on_disk={},
            policy_id="policy-x", feedback_ids=["feedback-y"],
            on_rows=lambda n: events.append(("rows", n)), on_work=lambda *state: events.append(("work", *state)),
        )
    work = [e[1:] for e in events if e[0] == "work"]
    assert events[-1] == ("rows", 5) and len(work) >= 4  # sampled twice, then labelled, before the one count
    # Planned up front: both sides of the pairs, and at most what the labeller may score for them.
    aggregator = Aggregator(rl_bundle, config.mode, margin=config.margin, seed=config.seed)
    planned = 10 + labeller.engine_inputs(sum(aggregator.model_items_at_most(r.context) for r in RECORDS))
    assert work[:3] == [(0, planned, 5), (5, planned, 5), (10, planned, 5)]
    scored = sum(len(batch) for batch, _ in backend.score_calls)
    assert work[-1] == (10 + scored, 10 + scored, 5) and 10 + scored <= planned
    shares = [done / total for done, total, _ in work]
    assert shares == sorted(shares)  # the estimate only grows
    _, _, quiet_pairs, quiet_labels = run(rl_bundle, tmp_path / "quiet", config)
    assert read_rows(tmp_path / "labels.jsonl") == quiet_labels and read_rows(tmp_path / "pairs.jsonl") == quiet_pairs
