"""The emitted templates: their free variables, the two dialects, and user text kept as data."""

from __future__ import annotations

import json

import pytest
from codegen_sources import SOURCE, compile_one
from jinja2 import Environment, UndefinedError, meta
from jinja2.sandbox import SecurityError

from cai_lang.codegen.compiler import write_bundle
from cai_lang.codegen.templates import (
    DIALECTS,
    PHASE_VARIABLES,
    PHASES,
    TEMPLATE_VARIABLES,
    TemplateVariableError,
    environment,
    render,
    render_prompt,
)

TRAINER_PROVIDES = {"conversation", "principle", "examples", "comparisons", "critique", "response_a", "response_b", "reasoning", "early_stop"}
CONVERSATION = [
    {"role": "user", "content": "Can I take ibuprofen with paracetamol?"},
    {"role": "assistant", "content": "Yes, they can usually be combined."},
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return compile_one(tmp_path_factory.mktemp("templates"), SOURCE)


def test_every_emitted_template_reads_exactly_the_variables_recorded_for_it(bundle, tmp_path):
    written = write_bundle(bundle, tmp_path)
    folder = tmp_path / "default"
    assert len(bundle.templates) == len(DIALECTS) * len(PHASES) == 3 * len(PHASES)
    assert sum(1 for p in written if p.suffix == ".jinja") == len(bundle.templates)
    for name, template in bundle.templates.items():
        source = (folder / template.file).read_text(encoding="utf-8")
        assert source == template.source
        # Re-parse with a plain environment, independent of the one the compiler used.
        found = meta.find_undeclared_variables(Environment().parse(source))
        assert found == set(template.variables), name
        assert found == PHASE_VARIABLES[template.phase], name
        assert found <= set(bundle.template_variables), name
    everything = set().union(*(t.variables for t in bundle.templates.values()))
    assert everything == TRAINER_PROVIDES == set(bundle.template_variables) == set(TEMPLATE_VARIABLES)


def test_text_dialect_follows_the_published_cai_format(bundle):
    critique = render_prompt(bundle, "helpful", "critique", "text", conversation=CONVERSATION, examples=[])
    assert critique.startswith("Human: Can I take ibuprofen with paracetamol?\n\nAssistant: Yes, they can")
    request = bundle.principle("helpful").wording.critique_request + " " + bundle.early_stop.instruction
    assert critique.endswith("CritiqueRequest: " + request + "\n\nCritique:")

    revision = render_prompt(bundle, "helpful", "revision", "text", conversation=CONVERSATION, critique="It skips the dose.", examples=[])
    assert "\n\nCritique: It skips the dose.\n\nRevisionRequest: " in revision
    assert revision.endswith("\n\nRevision:")

    compare = render_prompt(bundle, "accurate", "compare", "text", conversation=CONVERSATION[:1], response_a="Yes.", response_b="Usually, yes.")
    question = bundle.principle("accurate").wording.comparison_question
    assert compare.startswith("Consider the following conversation between a human and an assistant:\n\nHuman: Can I take")
    assert compare.endswith(f"{question}\nOptions:\n(A) Yes.\n(B) Usually, yes.\nThe answer is:")

    cot = render_prompt(bundle, "accurate", "compare_cot", "text", conversation=CONVERSATION[:1], response_a="Yes.", response_b="Usually, yes.")
    assert cot.startswith("Human: Consider the following conversation")
    assert cot.endswith("(B) Usually, yes.\n\nAssistant: Let's think step by step:")
    answer = render_prompt(
        bundle, "accurate", "compare_cot_answer", "text", conversation=CONVERSATION[:1], response_a="Yes.", response_b="Usually, yes.", reasoning="B hedges."
    )
    assert answer.endswith("Assistant: Let's think step by step: B hedges.\nThe answer is:")


def test_chat_dialect_renders_messages(bundle):
    wording = bundle.principle("helpful").wording
    request = wording.critique_request + " " + bundle.early_stop.instruction
    critique = render_prompt(bundle, "helpful", "critique", "chat", conversation=CONVERSATION, examples=[])
    assert critique == [*CONVERSATION, {"role": "user", "content": request}]
    revision = render_prompt(bundle, "helpful", "revision", "chat", conversation=CONVERSATION, critique="Too vague.", examples=[])
    assert revision[-3:] == [
        {"role": "user", "content": request},
        {"role": "assistant", "content": "Too vague."},
        {"role": "user", "content": wording.revision_request},
    ]
    (compare,) = render_prompt(bundle, "helpful", "compare", "chat", conversation=CONVERSATION[:1], response_a="One.", response_b="Two.")
    assert compare["role"] == "user"
    assert "Human: Can I take ibuprofen" in compare["content"]
    assert f"{wording.comparison_question}\nOptions:\n(A) One.\n(B) Two." in compare["content"]
    cot = render_prompt(bundle, "helpful", "compare_cot_answer", "chat", conversation=CONVERSATION[:1], response_a="One.", response_b="Two.", reasoning="Two is fuller.")
    assert "think step by step" in cot[0]["content"]
    assert cot[1] == {"role": "assistant", "content": "Two is fuller."}
    assert "(A) or (B)" in cot[2]["content"]


def test_principle_examples_become_few_shot_exemplars(bundle):
    example = bundle.principle("helpful").examples[0]
    (exemplar,) = bundle.exemplars("revision", "helpful")
    assert exemplar["critique_request"] == bundle.principle("helpful").wording.critique_request
    text = render_prompt(bundle, "helpful", "revision", "text", conversation=CONVERSATION, critique="c")
    assert text.startswith(f"Human: {example.prompt}\n\nAssistant: {example.response}\n\nCritiqueRequest: ")
    assert f"Revision: {example.revision}\n\n---------------------\n\nHuman: Can I take" in text
    chat = render_prompt(bundle, "helpful", "critique", "chat", conversation=CONVERSATION)
    assert chat[:4] == [
        {"role": "user", "content": example.prompt},
        {"role": "assistant", "content": example.response},
        {"role": "user", "content": exemplar["critique_request"]},
        {"role": "assistant", "content": example.critique},
    ]
    # `accurate` has no examples of its own; every principle's can be passed instead.
    assert bundle.exemplars("critique", "accurate") == []
    assert len(bundle.exemplars("critique")) == 1


def test_incomplete_examples_serve_only_the_phases_they_can(tmp_path):
    source = """
principle sourced {
    critique "Point out factual claims in the last response that are given without a source."
    revision "Add a source for each factual claim, or mark it as unsourced."
    compare "Which response backs its factual claims with sources?"
    example { prompt "Who won in 1998?" response "France." critique "No source is given." }
    example { prompt "Is coffee bad for you?" response "Yes." }
}
"""
    bundle = compile_one(tmp_path, source)
    assert [e["prompt"] for e in bundle.exemplars("critique")] == ["Who won in 1998?"]
    assert bundle.exemplars("revision") == []


TRICKY = "{{ 7 * 7 }} {% for i in range(3) %}loop{% endfor %} {# hidden #} {% raw %} </s> <|im_end|> <|endoftext|>"


def test_user_text_is_printed_literally_never_run_as_template_code(tmp_path):
    source = f"""
principle tricky {{
    critique "Critique with {TRICKY}"
    revision "Revise with {TRICKY}"
    compare "Compare with {TRICKY}"
    example {{ prompt "Prompt {TRICKY}" response "Response {TRICKY}" critique "Critique {TRICKY}" revision "Revision {TRICKY}" }}
}}
"""
    bundle = compile_one(tmp_path, source)
    conversation = [{"role": "user", "content": f"User {TRICKY}"}, {"role": "assistant", "content": f"Assistant {TRICKY}"}]
    extra = {"critique": f"Model critique {TRICKY}", "response_a": f"A {TRICKY}", "response_b": f"B {TRICKY}", "reasoning": f"R {TRICKY}"}
    for dialect in ("chat", "text"):
        for phase in PHASES:
            values = {k: v for k, v in extra.items() if k in PHASE_VARIABLES[phase]}
            rendered = render_prompt(bundle, "tricky", phase, dialect, conversation=conversation, **values)
            text = rendered if isinstance(rendered, str) else "\n".join(m["content"] for m in rendered)
            assert "49" not in text and "looploop" not in text, (dialect, phase)
            assert text.count(TRICKY) >= 3, (dialect, phase)


def test_missing_variables_are_errors_not_empty_strings(bundle):
    template = bundle.templates["text/revision"]
    values = {"conversation": CONVERSATION, "principle": bundle.principle("helpful").wording.model_dump(), "examples": []}
    with pytest.raises(TemplateVariableError, match="critique"):
        render(template, values)
    with pytest.raises(UndefinedError):
        environment().from_string("{{ principle.no_such_field }}").render(principle={})


def test_templates_run_in_a_sandbox():
    with pytest.raises(SecurityError):
        environment().from_string("{{ ''.__class__.__mro__ }}").render()
    with pytest.raises(SecurityError):
        environment().from_string("{% set _ = items.append(1) %}").render(items=[])


def test_a_phase_the_item_cannot_serve_is_refused(tmp_path):
    bundle = compile_one(tmp_path, SOURCE, deployment="clinic")
    with pytest.raises(ValueError, match="no wording for the critique phase"):
        render_prompt(bundle, "bedside", "critique", conversation=CONVERSATION)
    # Rules serve every phase with generated wording.
    (message,) = render_prompt(bundle, "hipaa", "compare", conversation=CONVERSATION[:1], response_a="a", response_b="b")
    assert "never reveal a patient's protected health information unless authorized" in message["content"]


def test_the_early_stop_sentence_is_part_of_the_bundle_and_its_hash(bundle):
    assert bundle.early_stop.reply == "No changes needed."
    assert f'"{bundle.early_stop.reply}"' in bundle.early_stop.instruction
    # Few-shot exemplars keep the author's request as written; only the live request carries the sentence.
    chat = render_prompt(bundle, "helpful", "critique", "chat", conversation=CONVERSATION)
    assert chat[-1]["content"].endswith(bundle.early_stop.instruction)
    assert bundle.early_stop.instruction not in chat[2]["content"]
    changed = bundle.model_copy(update={"early_stop": bundle.early_stop.model_copy(update={"reply": "Fine as is."})})
    assert changed.compute_hash() != bundle.content_hash


def test_a_bundle_without_an_early_stop_renders_the_bare_request_and_keeps_its_hash(bundle):
    older = bundle.model_copy(update={"early_stop": None}).sealed()
    assert older.compute_hash() == older.content_hash
    assert "early_stop" not in json.loads(older.canonical_json())
    text = render_prompt(older, "helpful", "critique", "text", conversation=CONVERSATION, examples=[])
    assert text.endswith("CritiqueRequest: " + bundle.principle("helpful").wording.critique_request + "\n\nCritique:")
