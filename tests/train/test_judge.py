"""The judge API and its reward server: rewards made of the labeller's own labels, the same in process,
over HTTP and inside `caic train`; failures reported as failures; bounded, clear requests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from rl_testkit import ControlledBackend, FixedLabeller, compile_test_bundle
from train_testkit import free_port

from cai_lang.judge import Judge
from cai_lang.judge.clients import local_reward_function, remote_reward_function
from cai_lang.judge.server import ServerThread
from cai_lang.train.rl.aggregate import Aggregator, label_pairs
from cai_lang.train.rl.labeller import ComparisonLabeller
from cai_lang.train.rl.policy import labeller_reward
from cai_lang.train.rl.rewards import JudgementFailed

QUALITY = {"good": 2.0, "fair": 1.0, "poor": 0.0, "call 123-45-6789": 3.0, "reference answer": 1.5}
CONTEXT = {"risk": "low", "fiction": False}
CONVERSATION = [{"role": "user", "content": "How should I store kitchen knives?"}]


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("judge_bundle"))


@pytest.fixture()
def judge(rl_bundle):
    labeller = ComparisonLabeller(rl_bundle, [ControlledBackend(QUALITY, position_bias=0.4)])
    return Judge(rl_bundle, labeller, Aggregator(rl_bundle, "priority"))


def post(url: str, body, *, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_group_rewards_are_mean_labels_of_the_labeller_for_every_pairing(judge, rl_bundle):
    responses = ["good", "fair", "call 123-45-6789"]
    results = judge.score(CONVERSATION, responses, context=CONTEXT)
    # The labels `caic train` would write for these pairs, computed on their own.
    pairs = [{"id": f"p{i}{j}", "conversation": CONVERSATION, "context": CONTEXT, "response_a": responses[i], "response_b": responses[j]}
             for i, j in ((0, 1), (0, 2), (1, 2))]
    labels = {(i, j): label.p_a for (i, j), label in zip(((0, 1), (0, 2), (1, 2)), label_pairs(pairs, judge.labeller, Aggregator(rl_bundle, "priority")))}
    expected = [(labels[0, 1] + labels[0, 2]) / 2, (1 - labels[0, 1] + labels[1, 2]) / 2, (2 - labels[0, 2] - labels[1, 2]) / 2]
    assert [r.reward for r in results] == pytest.approx(expected, abs=1e-12)
    # The rule's regex decides the SSN pairs at tier 0: the leaking response loses them outright.
    assert labels[0, 2] == 1.0 and labels[1, 2] == 1.0 and results[2].reward == 0.0
    assert results[2].detectors == {"no_ssn": True} and results[0].detectors == {"no_ssn": False}
    assert all(r.content_hash == rl_bundle.content_hash and r.feedback_models == ("controlled",) for r in results)
    assert set(results[0].items) >= {"safe", "honest", "helpful", "no_ssn"} and results[0].comparisons == 2


def test_a_lone_response_is_compared_with_the_reference_or_reported_failed(judge):
    (with_reference,) = judge.score(CONVERSATION, ["good"], context=CONTEXT, reference="reference answer")
    assert with_reference.method == "reference" and 0.5 < with_reference.reward < 1.0
    (without,) = judge.score(CONVERSATION, ["good"], context=CONTEXT)
    assert without.reward is None and not without.ok and "reference" in without.error
    assert without.to_dict()["status"] == "failed"


def test_an_engine_failure_fails_only_its_own_prompt(rl_bundle):
    class Broken(ControlledBackend):
        def continuation_logprobs(self, prompts, continuations):
            if any("poison" in str(p) for p in prompts):
                raise RuntimeError("the feedback server fell over")
            return super().continuation_logprobs(prompts, continuations)

    judge = Judge(rl_bundle, ComparisonLabeller(rl_bundle, [Broken({**QUALITY, "poison": 0.0})]), Aggregator(rl_bundle, "priority"))
    from cai_lang.judge.core import request

    fine, broken = judge.score_many([request(CONVERSATION, ["good", "fair"], context=CONTEXT),
                                     request(CONVERSATION, ["good", "poison"], context=CONTEXT)])
    assert all(j.ok for j in fine)
    assert all(j.reward is None and "fell over" in j.error for j in broken)


def test_server_rewards_equal_the_in_process_api_and_the_training_reward(judge, rl_bundle):
    groups = [["good", "fair", "poor"], ["fair", "call 123-45-6789"]]
    in_process = [[j.reward for j in judge.score(CONVERSATION, g, context=CONTEXT)] for g in groups]
    # The reward `caic train --reward labeller` hands trl, on the same completions.
    training = labeller_reward(judge.labeller, Aggregator(rl_bundle, "priority"))
    prompts = [CONVERSATION] * 3 + [CONVERSATION + [{"role": "user", "content": "again"}]] * 2
    contexts = [json.dumps(CONTEXT)] * 5
    conversations = [json.dumps(CONVERSATION)] * 5
    flat = training(prompts, [[{"role": "assistant", "content": c}] for g in groups for c in g], context=contexts, conversation=conversations)
    assert flat == pytest.approx(in_process[0] + in_process[1], abs=1e-12)
    with ServerThread(judge) as url:
        over_http = [[j["reward"] for j in post(url + "/judge", {"prompt": CONVERSATION, "responses": g, "context": CONTEXT})[1]["judgements"]]
                     for g in groups]
        remote = remote_reward_function(url)(prompts, [[{"role": "assistant", "content": c}] for g in groups for c in g],
                                             context=contexts, conversation=conversations)
        stats = json.loads(urllib.request.urlopen(url + "/stats", timeout=30).read())
    assert over_http == in_process
    assert remote == pytest.approx(flat, abs=1e-12)
    assert local_reward_function(judge)(prompts, [[{"role": "assistant", "content": c}] for g in groups for c in g],
                                        context=contexts, conversation=conversations) == flat
    assert stats["responses"] == 10 and stats["failed"] == 0 and stats["rewards_per_second"] > 0


def test_the_server_refuses_bad_requests_with_a_reason_and_never_answers_zero(judge):
    with ServerThread(judge) as url:
        status, body = post(url + "/judge", None, raw=b"{not json")
        assert status == 400 and "not JSON" in body["error"]
        status, body = post(url + "/judge", {"prompt": "hi", "responses": []})
        assert status == 422 and "responses" in body["error"]
        status, body = post(url + "/judge", {"prompt": "hi", "responses": ["x" * 70000]})
        assert status == 422 and "65536" in body["error"]
        status, body = post(url + "/judge", {"prompt": "hi", "responses": ["a"], "extra": 1})
        assert status == 422 and "extra" in body["error"]
        # A lone response with nothing to compare with: reported failed, reward null.
        status, body = post(url + "/judge", {"prompt": "hi", "responses": ["good"]})
        assert status == 200 and body["judgements"][0]["status"] == "failed" and body["judgements"][0]["reward"] is None
        # OpenRLHF's protocol gets an error, not a number, for the same case.
        status, body = post(url + "/openrlhf", {"query": ["hi good"], "prompts": ["hi "], "labels": [None]})
        assert status == 422 and body["failed"] == [0]


def test_bodies_over_the_limit_are_refused_before_parsing(judge):
    with ServerThread(judge, max_body=1000) as url:
        status, body = post(url + "/judge", {"prompt": "hi", "responses": ["x" * 2000]})
    assert status == 413 and "1000" in body["error"]


def test_the_remote_callable_reports_an_unreachable_server_as_no_reward():
    port = free_port()  # nothing listens there
    prompts = [CONVERSATION, CONVERSATION]
    completions = [[{"role": "assistant", "content": c}] for c in ("good", "fair")]
    assert remote_reward_function(f"http://127.0.0.1:{port}", timeout=5)(prompts, completions) == [None, None]
    with pytest.raises(JudgementFailed, match="2 of 2"):
        remote_reward_function(f"http://127.0.0.1:{port}", timeout=5, on_failure="raise")(prompts, completions)


def test_the_training_reward_stops_on_a_failed_judgement(rl_bundle):
    reward = labeller_reward(FixedLabeller({"safe": 0.7, "honest": 0.6, "helpful": 0.5}), Aggregator(rl_bundle, "priority"))
    with pytest.raises(JudgementFailed, match="reference"):
        reward([CONVERSATION], [[{"role": "assistant", "content": "alone"}]])
