"""What the HTTP backend adapts to: how a chat reply spells "(A)", servers without log-probabilities, and
optional fields a server refuses. Against the stub server."""

from __future__ import annotations

import math

import pytest

from cai_lang.engine import SamplingParams, UnsupportedScoringError
from cai_lang.engine.base import request_seed
from cai_lang.engine.http import HTTPBackend, chat_option_logprobs

CHAT = [{"role": "user", "content": "Which is better? Answer (A) or (B)."}]


def backend_for(stub, **options) -> HTTPBackend:
    return HTTPBackend(stub.url, **{"model": "stub-model", "backoff": 0.01, "timeout": 5.0, **options})


def position(token, logprob, *alternatives):
    return {"token": token, "logprob": logprob, "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alternatives]}


def test_a_reply_starting_with_a_bracket_is_scored_by_its_second_token(stub):
    # "(" first, as most tokenisers spell "(A)": the letter after it decides.
    stub.chat_logprobs = [
        position("(", -0.05, ("(", -0.05), ("The", -3.0)),
        position("A", -0.4, ("A", -0.4), ("B", -1.1), ("C", -6.0)),
    ]
    a, b = backend_for(stub).continuation_logprobs([CHAT, CHAT], ["(A)", "(B)"])
    assert a == pytest.approx(-0.05 - 0.4) and b == pytest.approx(-0.05 - 1.1)
    assert [r["body"]["max_tokens"] for r in stub.requests] == [2]


def test_every_spelling_of_an_option_adds_up_and_a_missing_one_gets_the_bound():
    content = [
        position("(", -0.5, ("(", -0.5), ("(A", -1.5), ("A", -2.0), ("Sure", -4.0)),
        position("B", -0.2, ("B", -0.2), ("A", -2.5)),
    ]
    a, b = chat_option_logprobs(content, ["(A)", "(B)"])
    assert a == pytest.approx(math.log(math.exp(-1.5) + math.exp(-2.0) + math.exp(-0.5 - 2.5)))
    assert b == pytest.approx(-0.5 - 0.2)
    # "(B" never shows at the first position and "A" after "(" is missing: bounded, not an abort.
    only_a = [position("(A", -0.1, ("(A", -0.1), ("Sure", -5.0))]
    a, b = chat_option_logprobs(only_a, ["(A)", "(B)"])
    assert a == pytest.approx(-0.1) and b == pytest.approx(-5.0) and a > b


def test_no_option_in_the_reply_is_a_clear_error():
    with pytest.raises(UnsupportedScoringError, match="none of .* is among the chat reply's likeliest first tokens"):
        chat_option_logprobs([position("Sure", -0.1, ("Sure", -0.1), ("Well", -2.0))], ["(A)", "(B)"])


def test_a_server_that_gives_no_logprobs_says_what_to_use_instead(stub):
    stub.no_logprobs = True
    with pytest.raises(UnsupportedScoringError, match="returned no log-probabilities.*transformers serve"):
        backend_for(stub).continuation_logprobs([CHAT, CHAT], ["(A)", "(B)"])


def test_an_optional_field_the_server_refuses_is_left_out_from_then_on(stub):
    stub.reject_fields = {"top_k"}
    backend = backend_for(stub)
    params = SamplingParams(top_k=5, seed=3, temperature=0.7)
    assert backend.generate([CHAT], params) == [f"chat<<{CHAT[0]['content']}>> [seed {request_seed(3, 0)}] STOP tail"]
    assert backend.dropped_fields == {"top_k"}
    backend.generate(["text prompt"], params)
    sent = [r["body"] for r in stub.requests]
    assert ["top_k" in body for body in sent] == [True, False, False]
    assert all("n" not in body and body["seed"] == request_seed(3, 0) for body in sent)


def test_a_refusal_naming_no_optional_field_still_fails(stub):
    stub.reject_fields = {"max_tokens"}
    with pytest.raises(Exception, match="422.*max_tokens"):
        backend_for(stub).generate(["x"])
