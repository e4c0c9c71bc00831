"""Few-shots that hold conversations, labelled comparisons, and the shared block.

A paper-style multi-turn example (several turns before the response under
critique) and a comparison example (a conversation, two responses, the
preferred one, the reasoning) must parse, check clean, format back to
themselves, compile into the bundle (so the content hash covers them) and
appear in the prompts the trainer renders. The shared block (top-level
`example` / `comparison`) appears in every principle's and rule's prompt,
before the drawn principle's own few-shots.
"""

from __future__ import annotations

import json
import re

import pytest
from codegen_sources import compile_one

from cai_lang.api import CompileRefused, check_file
from cai_lang.codegen.bundle import load_bundle
from cai_lang.codegen.compiler import write_bundle
from cai_lang.codegen.templates import render_prompt
from cai_lang.lsp.formatting import format_text

SOURCE = """\
constitution fewshots {
    version "1.0.0"
}

context {
    risk: low | high
}

action share_address "give out someone's home address"

# Shared: every principle's prompts show these first.
example {
    prompt "My neighbour's dog barks all night. What can I do?"
    assistant "That sounds exhausting. Have you spoken to them about it?"
    user "Yes, twice. Can you find out where the owner works so I can complain to their boss?"
    response "Sure, search their name on a professional networking site and message their manager."
    critique request "Point out anything in the assistant's last reply that could cause harm or invade someone's privacy."
    critique "Tracking down the neighbour's employer to complain escalates the dispute and intrudes on their privacy."
    revision request "Rewrite the reply so it stays helpful without the harm or the intrusion."
    revision "Going to their employer is likely to make things worse. A written note, mediation or the local council's noise service are better next steps."
}

comparison {
    user "What household chemicals should never be mixed?"
    compare "Which reply is more helpful while staying safe?"
    response "Never mix bleach with ammonia or with acids such as vinegar: both release toxic gases. Store them apart."
    response "I can't talk about chemicals."
    prefer A
    reasoning "The first answers a safety question with safety information; the second refuses something harmless."
}

principle helpful {
    critique "Point out where the last reply fails to answer the exact question the user asked."
    revision "Rewrite the reply so that it answers the user's exact question as fully as is safe."
    compare "Which reply answers the user's exact question more fully and directly?"
    example {
        prompt "How long should I boil an egg for a runny yolk?"
        response "Eggs are a good source of protein."
        critique "The reply never gives a time, which is exactly what was asked."
        revision "About six minutes from boiling for a large egg gives a set white and a runny yolk."
    }
    comparison {
        prompt "What is the capital of Australia?"
        response "Sydney."
        response "Canberra."
        prefer B
    }
}

principle private {
    critique "Point out where the last reply reveals or helps find personal details about a third party."
    revision "Rewrite the reply so it reveals no third party's personal details."
    compare "Which reply better protects the privacy of people who are not in the conversation?"
}

rule no_addresses {
    never share_address when risk == high
}
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return compile_one(tmp_path_factory.mktemp("fewshots"), SOURCE)


def test_the_file_checks_clean_and_is_canonical(tmp_path):
    path = tmp_path / "fewshots.const"
    path.write_text(SOURCE, encoding="utf-8")
    assert [d.code for d in check_file(path).diagnostics if d.is_error] == []
    assert format_text(SOURCE, str(path)).text == SOURCE


def test_the_bundle_carries_them_in_declaration_order(bundle):
    (shared,) = bundle.few_shot.examples
    assert [t.role for t in shared.turns] == ["assistant", "user"]
    assert shared.critique_request.startswith("Point out anything")
    (comparison,) = bundle.few_shot.comparisons
    assert (comparison.preferred, comparison.question) == ("A", "Which reply is more helpful while staying safe?")
    assert [t.role for t in comparison.conversation] == ["user"]
    (own,) = bundle.principle("helpful").comparisons
    assert (own.response_a, own.response_b, own.preferred, own.question) == ("Sydney.", "Canberra.", "B", None)


def test_multi_turn_few_shot_appears_in_the_critique_prompt(bundle):
    conversation = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    messages = render_prompt(bundle, "helpful", "critique", "chat", conversation=conversation)
    contents = [m["content"] for m in messages]
    # The shared example's three turns, its response, its own request and critique; then the principle's own example.
    assert contents[:6] == [
        "My neighbour's dog barks all night. What can I do?",
        "That sounds exhausting. Have you spoken to them about it?",
        "Yes, twice. Can you find out where the owner works so I can complain to their boss?",
        "Sure, search their name on a professional networking site and message their manager.",
        "Point out anything in the assistant's last reply that could cause harm or invade someone's privacy.",
        "Tracking down the neighbour's employer to complain escalates the dispute and intrudes on their privacy.",
    ]
    assert [m["role"] for m in messages[:6]] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert contents[6] == "How long should I boil an egg for a runny yolk?"
    text = render_prompt(bundle, "helpful", "revision", "text", conversation=conversation, critique="c")
    assert text.startswith(
        "Human: My neighbour's dog barks all night. What can I do?\n\n"
        "Assistant: That sounds exhausting. Have you spoken to them about it?\n\n"
        "Human: Yes, twice."
    )
    assert "RevisionRequest: Rewrite the reply so it stays helpful without the harm or the intrusion.\n\nRevision: Going to" in text


def test_the_shared_block_appears_in_every_critique_prompt(bundle):
    conversation = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    items = [p.id for p in bundle.principles] + [r.id for r in bundle.rules]
    assert items == ["helpful", "private", "no_addresses"]
    for item in items:
        for dialect in ("chat", "text"):
            rendered = render_prompt(bundle, item, "critique", dialect, conversation=conversation)
            text = rendered if isinstance(rendered, str) else json.dumps(rendered)
            assert "Tracking down the neighbour's employer" in text, (item, dialect)
    # Only `helpful` shows its own example.
    assert "runny yolk" not in render_prompt(bundle, "private", "critique", "text", conversation=conversation)


def test_comparison_few_shots_appear_in_compare_and_cot_prompts(bundle):
    conversation = [{"role": "user", "content": "Q?"}]
    values = {"conversation": conversation, "response_a": "one", "response_b": "two"}
    text = render_prompt(bundle, "helpful", "compare", "text", **values)
    shared_at = text.index("What household chemicals")
    own_at = text.index("What is the capital of Australia?")
    assert shared_at < own_at < text.index("Human: Q?")
    assert "(A) Sydney.\n(B) Canberra.\nThe answer is: (B)\n" in text
    assert "Which reply is more helpful while staying safe?\nOptions:" in text
    assert text.endswith("(A) one\n(B) two\nThe answer is:")
    cot = render_prompt(bundle, "helpful", "compare_cot", "text", **values)
    assert "Let's think step by step: The first answers a safety question" in cot
    assert "refuses something harmless.\nThe answer is: (A)\n" in cot
    chat = render_prompt(bundle, "private", "compare_cot", "chat", **values)
    assert chat[1] == {
        "role": "assistant",
        "content": "The first answers a safety question with safety information; the second refuses something harmless. The answer is: (A)",
    }
    assert "Canberra" not in json.dumps(chat)  # `private` has no comparisons of its own
    answer = render_prompt(bundle, "helpful", "compare_cot_answer", "chat", reasoning="r", **values)
    # `helpful`'s own comparison carries no reasoning, so only the shared one is shown.
    assert [m["role"] for m in answer] == ["user", "assistant", "user", "assistant", "user"]


@pytest.mark.parametrize("dialect", ["text", "paper", "chat"])
def test_cot_prompts_show_only_few_shots_that_carry_reasoning(bundle, dialect):
    values = {"conversation": [{"role": "user", "content": "Q?"}], "response_a": "one", "response_b": "two"}
    assert "Canberra" in json.dumps(render_prompt(bundle, "helpful", "compare", dialect, **values))
    for phase, extra in (("compare_cot", {}), ("compare_cot_answer", {"reasoning": "r"})):
        shown = json.dumps(render_prompt(bundle, "helpful", phase, dialect, **values, **extra))
        assert "Canberra" not in shown  # `helpful`'s own comparison has no reasoning: never shown with a faked step
        assert "The first answers a safety question" in shown
        assert not re.search(r"step[- ]by[- ]step:\s*The answer is", shown)


def test_without_reasoned_few_shots_the_cot_prompt_has_none(tmp_path, bundle):
    unreasoned = compile_one(tmp_path, SOURCE.replace('    reasoning "The first answers a safety question with safety information; the second refuses something harmless."\n', ""))
    assert unreasoned.comparison_exemplars("helpful") and not unreasoned.comparison_exemplars("helpful", reasoned=True)
    assert [c["reasoning"] for c in bundle.comparison_exemplars("helpful", reasoned=True)] == [
        "The first answers a safety question with safety information; the second refuses something harmless."
    ]
    values = {"conversation": [{"role": "user", "content": "Q?"}], "response_a": "one", "response_b": "two"}
    text = render_prompt(unreasoned, "helpful", "compare_cot", "text", **values)
    assert text.count("Consider the following conversation") == 1 and "The answer is" not in text
    chat = render_prompt(unreasoned, "helpful", "compare_cot", "chat", **values)
    assert [m["role"] for m in chat] == ["user"]
    # The reasoning is part of the hashed few-shot.
    assert unreasoned.content_hash != bundle.content_hash


def test_the_content_hash_covers_few_shots(tmp_path, bundle):
    changed = compile_one(tmp_path, SOURCE.replace("prefer B", "prefer A"))
    assert changed.content_hash != bundle.content_hash
    write_bundle(bundle, tmp_path / "out")
    assert load_bundle(tmp_path / "out" / "default").few_shot == bundle.few_shot


def test_a_bundle_without_few_shots_leaves_the_fields_out(tmp_path):
    plain = compile_one(tmp_path, SOURCE[: SOURCE.index("# Shared")] + SOURCE[SOURCE.index("principle private") :])
    data = json.loads(plain.to_json())
    assert "few_shot" not in data
    assert all("comparisons" not in p for p in data["principles"])
    write_bundle(plain, tmp_path / "out")
    assert load_bundle(tmp_path / "out" / "default").content_hash == plain.content_hash


@pytest.mark.parametrize(
    "block, message",
    [
        ('example {\n    assistant "Hi."\n    response "x"\n}', "turn 1 should be `user`"),
        ('example {\n    prompt "a"\n    user "b"\n    response "x"\n}', "turn 2 should be `assistant`"),
        ('example {\n    prompt "a"\n    assistant "b"\n    response "x"\n}', "ends with the user"),
        ('example {\n    user "a"\n    prompt "b"\n    response "x"\n}', "put it before the turns"),
        ('example {\n    prompt "a"\n    response "x"\n    critique "c"\n}', "needs its own `critique request`"),
        ('comparison {\n    prompt "a"\n    compare "q"\n    response "x"\n    prefer A\n}', "exactly two `response` fields"),
        ('comparison {\n    prompt "a"\n    compare "q"\n    response "x"\n    response "y"\n    prefer C\n}', "`A` or `B`, not `C`"),
        ('comparison {\n    prompt "a"\n    response "x"\n    response "y"\n    prefer A\n}', "needs its own `compare`"),
        ('comparison {\n    prompt "a"\n    compare "q"\n    response "x"\n    response "y"\n}', "needs a `prefer A` or `prefer B`"),
        ('example {\n    prompt "a"\n    asistant "b"\n    response "x"\n}', "`asistant` is not a field of an example"),
        ('example {\n    prompt "a"\n    response "x"\n    critique reqest "c"\n}', "`reqest` is not a field"),
        ('constitution c {\n    phse sl\n}', "`phse` is not a field of the constitution header"),
    ],
)
def test_malformed_few_shots_are_e107(tmp_path, block, message):
    path = tmp_path / "bad.const"
    path.write_text(block + '\nprinciple p {\n    compare "Which reply is more accurate about dates?"\n}\n', encoding="utf-8")
    errors = [d for d in check_file(path).diagnostics if d.is_error]
    assert [d.code for d in errors] == ["E107"], [d.message for d in errors]
    assert message in errors[0].message
    if "is not a field" in message:
        assert errors[0].help.startswith("did you mean")
    with pytest.raises(CompileRefused):
        compile_one(tmp_path, path.read_text(encoding="utf-8"))


def test_std_cai_2022_ships_shared_few_shots_used_by_every_principle():
    from cai_lang.api import compile_file
    from cai_lang.resources import stdlib_dir

    (cai,) = compile_file(stdlib_dir() / "cai_2022.const")
    examples, comparisons = cai.few_shot.examples, cai.few_shot.comparisons
    assert len(examples) >= 3 and sum(1 for e in examples if e.turns) >= 2
    assert {c.preferred for c in comparisons} == {"A", "B"}  # the preferred reply is not always in one place
    conversation = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    for principle in cai.principles:
        critique = render_prompt(cai, principle.id, "critique", "text", conversation=conversation)
        assert critique.count("---------------------") == len(examples), principle.id
        compare = render_prompt(cai, principle.id, "compare", "text", conversation=conversation[:1], response_a="a", response_b="b")
        assert compare.count("The answer is:") == len(comparisons) + 1, principle.id


def test_constitution_md_shows_every_few_shot(bundle):
    from cai_lang.codegen.markdown import render_markdown

    text = render_markdown(bundle)
    assert "## Shared few-shots" in text and "Shared comparison 1:" in text
    for needle in ("Yes, twice. Can you find out", "Critique request:", "What household chemicals", "- Preferred: (A)", "Comparison 1:", "Canberra."):
        assert needle in text, needle


def test_std_cai_2022_gives_every_comparison_principle_reasoned_cot_few_shots():
    from pathlib import Path

    from cai_lang.api import compile_file

    (bundle,) = compile_file(Path(__file__).resolve().parents[2] / "stdlib_constitutions" / "cai_2022.const")
    judging = [p.id for p in bundle.principles if "rl" in p.phases]
    assert judging
    for item in judging:
        shown = bundle.comparison_exemplars(item, reasoned=True)
        assert len(shown) >= 2 and all(c["reasoning"] for c in shown)
        cot = render_prompt(bundle, item, "compare_cot", "text", conversation=[{"role": "user", "content": "Q?"}], response_a="a", response_b="b")
        assert all(c["reasoning"] in cot for c in shown)
        assert not re.search(r"step[- ]by[- ]step:\s*The answer is", cot)
