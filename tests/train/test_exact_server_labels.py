"""Labels over a server with prompt log-probabilities equal the local backend's, and spread over a pool.

The server is `logprob_server.py` (the tests' own OpenAI-compatible server on
the tiny model, since `transformers serve` has no prompt log-probabilities
and vLLM needs a GPU). With the served model's tokenizer the HTTP backend
tokenises as the local backend does and reads the options' log-probabilities
from the echoed prompt; without token-id support it falls back to the chat
endpoint's top log-probabilities, and says which route it used.
"""

from __future__ import annotations

import pytest
from logprob_server import create_logprob_app
from rl_testkit import compile_test_bundle

from cai_lang.judge.server import AppThread
from cai_lang.train.rl.aggregate import Aggregator, label_pairs
from cai_lang.train.rl.labeller import ComparisonLabeller

PAIRS = [
    {"id": f"p{i}", "conversation": [{"role": "user", "content": question}], "context": {"risk": "low", "fiction": False},
     "response_a": a, "response_b": b}
    for i, (question, a, b) in enumerate([
        ("How should I store kitchen knives?", "In a block.", "Loose in a drawer, points up."),
        ("Is it safe to mix bleach and ammonia?", "No: it makes toxic gas.", "Sure, it cleans better."),
        ("What is 2 + 2?", "4", "Probably 5, but I am certain."),
    ])
]


@pytest.fixture(scope="module")
def rl_bundle(tmp_path_factory):
    return compile_test_bundle(tmp_path_factory.mktemp("exact_bundle"))


@pytest.fixture(scope="module")
def local_labels(rl_bundle, tiny_model):
    from cai_lang.engine.local import LocalBackend

    backend = LocalBackend(str(tiny_model), device="cpu")
    labels = {dialect: label_pairs(PAIRS, ComparisonLabeller.from_backends(rl_bundle, backend, dialect=dialect), Aggregator(rl_bundle, "priority"))
              for dialect in ("chat", "text")}
    backend.close()
    return labels


def _close(server_labels, local) -> None:
    for got, want in zip(server_labels, local):
        assert got.items.keys() == want.items.keys()
        for item in want.items:
            assert got.items[item] == pytest.approx(want.items[item], abs=1e-5)
        for item, detail in want.details.items():
            # Each order on its own, before averaging pulls both towards 0.5.
            assert got.details[item]["p_a_first"] == pytest.approx(detail["p_a_first"], abs=1e-5)
            assert got.details[item]["p_a_second"] == pytest.approx(detail["p_a_second"], abs=1e-5)
        assert got.p_a == pytest.approx(want.p_a, abs=1e-5)


@pytest.mark.parametrize("dialect", ["chat", "text"])
def test_server_labels_from_prompt_logprobs_equal_the_local_backend(rl_bundle, tiny_model, local_labels, dialect):
    from cai_lang.engine.http import HTTPBackend

    with AppThread(create_logprob_app(str(tiny_model))) as url:
        backend = HTTPBackend(url, model="tiny", tokenizer=str(tiny_model), max_retries=0)
        labeller = ComparisonLabeller.from_backends(rl_bundle, backend, dialect=dialect)
        labels = label_pairs(PAIRS, labeller, Aggregator(rl_bundle, "priority"))
        backend.close()
    assert backend.scoring_routes == {"prompt-logprobs"}
    # A random tiny model has opinions, not ties: the comparison is not of 0.5s (each order on its own).
    assert any(abs(d["p_a_first"] - 0.5) > 1e-2 for label in local_labels[dialect] for d in label.details.values())
    _close(labels, local_labels[dialect])


def test_labelling_spreads_over_a_pool_of_servers_with_the_same_labels(rl_bundle, tiny_model, local_labels):
    from cai_lang.engine.pool import PooledBackend

    first, second = create_logprob_app(str(tiny_model)), create_logprob_app(str(tiny_model))
    with AppThread(first) as url_a, AppThread(second) as url_b:
        pool = PooledBackend.from_urls([url_a, url_b], model="tiny", tokenizer=str(tiny_model), max_retries=0)
        labels = label_pairs(PAIRS, ComparisonLabeller.from_backends(rl_bundle, pool), Aggregator(rl_bundle, "priority"))
        pool.close()
    assert first.state.requests > 0 and second.state.requests > 0 and all(n > 0 for n in pool.served)
    assert pool.scoring_routes == {"prompt-logprobs"}
    _close(labels, local_labels["chat"])


def test_a_server_without_token_id_prompts_falls_back_and_says_which_route_it_used(rl_bundle, tiny_model, local_labels):
    from cai_lang.engine.base import UnsupportedScoringError
    from cai_lang.engine.http import HTTPBackend

    with AppThread(create_logprob_app(str(tiny_model), token_ids=False)) as url:
        text = HTTPBackend(url, model="tiny", tokenizer=str(tiny_model), max_retries=0)
        labels = label_pairs(PAIRS, ComparisonLabeller.from_backends(rl_bundle, text, dialect="text"), Aggregator(rl_bundle, "priority"))
        chat = HTTPBackend(url, model="tiny", tokenizer=str(tiny_model), max_retries=0)
        # The chat route reads the reply's top alternatives; the random tiny model's do not include "(A)" or "(B)".
        with pytest.raises(UnsupportedScoringError, match="likeliest first tokens"):
            label_pairs(PAIRS[:1], ComparisonLabeller.from_backends(rl_bundle, chat, dialect="chat"), Aggregator(rl_bundle, "priority"))
        text.close()
        chat.close()
    assert "refused token-id prompts" in text.exact.refused and "refused token-id prompts" in chat.exact.refused
    assert text.scoring_routes == {"echo-text"} and chat.scoring_routes == set()
    # Echo on text is exact too for this tokenizer: the same labels.
    _close(labels, local_labels["text"])


def test_generate_rl_labels_exactly_over_a_server_and_run_json_says_so(constitution_file, tiny_model, tmp_path):
    import json

    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    fast = ["--max-prompts", "3", "--max-new-tokens", "8", "--deployment", "clinic", "--seed", "3"]
    runner = CliRunner()
    local = runner.invoke(app, ["generate", "rl", str(constitution_file), "-m", str(tiny_model), "-o", str(tmp_path / "local"), *fast])
    assert local.exit_code == 0, local.output
    with AppThread(create_logprob_app(str(tiny_model))) as url:
        served = runner.invoke(app, ["generate", "rl", str(constitution_file), "-m", str(tiny_model), "-f", f"{url}/v1#tiny",
                                     "--server-tokenizer", str(tiny_model), "-o", str(tmp_path / "served"), *fast])
    assert served.exit_code == 0, served.output

    def labels(folder):
        return {row["pair_id"]: row["p_a"] for row in map(json.loads, (tmp_path / folder / "rl_labels.jsonl").read_text().splitlines())}

    want, got = labels("local"), labels("served")
    assert want.keys() == got.keys() and len(want) == 3
    assert all(got[k] == pytest.approx(want[k], abs=1e-5) for k in want)
    steps = [s for c in json.loads((tmp_path / "served" / "run.json").read_text())["commands"] for s in c["steps"] if s["step"] == "rl-generate"]
    assert steps[-1]["label_scoring"] == {f"{url}/v1#tiny": ["prompt-logprobs"]}
