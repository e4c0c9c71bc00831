"""Conditions in plain English, and the three-valued evaluator the trainer uses."""

from __future__ import annotations

import pytest

from cai_lang.codegen.bundle import Clause, Condition
from cai_lang.codegen.conditions import (
    AndExpr,
    CompareExpr,
    ConstExpr,
    ContextVariableSpec,
    InExpr,
    NotExpr,
    OrExpr,
    VarExpr,
    applies,
    decide,
)
from cai_lang.codegen.wording import (
    applies_text,
    condition_text,
    resolution_text,
    rule_statement,
    rule_wording,
)

SCHEMA = {
    "authorized": ContextVariableSpec(name="authorized", kind="bool"),
    "risk": ContextVariableSpec(name="risk", kind="enum", values=("low", "medium", "high")),
    "topic": ContextVariableSpec(name="topic", kind="enum", values=("general", "medical", "legal_advice")),
}
AUTHORIZED = VarExpr(var="authorized")
RISKY = CompareExpr(var="risk", op=">=", value="medium")
MEDICAL = CompareExpr(var="topic", op="==", value="medical")


@pytest.mark.parametrize(
    "expr, text",
    [
        (ConstExpr(value=True), "always"),
        (ConstExpr(value=False), "never"),
        (AUTHORIZED, "authorized"),
        (NotExpr(operand=AUTHORIZED), "not authorized"),
        (RISKY, "risk is medium or higher"),
        (CompareExpr(var="risk", op="<", value="high"), "risk is lower than high"),
        (NotExpr(operand=RISKY), "risk is lower than medium"),
        (CompareExpr(var="topic", op="!=", value="legal_advice"), "topic is not legal advice"),
        (InExpr(var="topic", values=("general", "medical")), "topic is general or medical"),
        (InExpr(var="topic", values=("general", "medical", "legal_advice")), "topic is general, medical or legal advice"),
        (NotExpr(operand=InExpr(var="topic", values=("general", "medical"))), "topic is neither general nor medical"),
        (AndExpr(operands=(MEDICAL, OrExpr(operands=(RISKY, NotExpr(operand=AUTHORIZED))))), "topic is medical and (risk is medium or higher or not authorized)"),
        (NotExpr(operand=AndExpr(operands=(MEDICAL, AUTHORIZED))), "not (topic is medical and authorized)"),
    ],
)
def test_conditions_read_as_plain_english(expr, text):
    assert condition_text(expr) == text


def test_applies_text_and_rule_statements():
    assert applies_text(ConstExpr(value=True)) == "in every context"
    assert applies_text(MEDICAL) == "when topic is medical"
    assert rule_statement("always", "warn the user's doctor", "when", CompareExpr(var="risk", op="==", value="high")) == (
        "Always warn the user's doctor when risk is high."
    )
    assert rule_statement("never", "share a home address", None, None) == "Never share a home address."
    wording = rule_wording("always", "suggest calling emergency services", "when", CompareExpr(var="risk", op="==", value="high"))
    assert "the assistant must always suggest calling emergency services when risk is high" in wording.critique_request
    assert "Add what the rule requires" in wording.revision_request
    assert wording.comparison_question.endswith("Which response follows this rule better?")


def test_resolution_text_without_otherwise():
    clause = Clause(prefer="a", when=Condition(tree=RISKY, text="risk is medium or higher"))
    assert resolution_text("a", "b", (clause,)) == "When both `a` and `b` apply: prefer `a` when risk is medium or higher."


def test_decide_is_three_valued_over_unlabelled_variables():
    condition = AndExpr(operands=(MEDICAL, RISKY))
    assert decide(condition, {"topic": "medical", "risk": "high"}, SCHEMA) is True
    assert decide(condition, {"topic": "general"}, SCHEMA) is False
    assert decide(condition, {"topic": "medical"}, SCHEMA) is None
    assert applies(condition, {"topic": "medical"}, SCHEMA)
    assert not applies(condition, {"risk": "low"}, SCHEMA)
    # Exact, not merely Kleene: `x or not x` holds whatever x is.
    assert decide(OrExpr(operands=(AUTHORIZED, NotExpr(operand=AUTHORIZED))), {}, SCHEMA) is True


def test_enum_order_is_the_declared_order():
    assert decide(RISKY, {"risk": "medium"}, SCHEMA) is True
    assert decide(RISKY, {"risk": "low"}, SCHEMA) is False
    assert decide(CompareExpr(var="risk", op=">", value="medium"), {"risk": "high"}, SCHEMA) is True


def test_assumptions_narrow_unlabelled_variables_but_never_veto_labels():
    assume_medical = [MEDICAL]
    assert decide(MEDICAL, {}, SCHEMA, assume_medical) is True
    assert decide(CompareExpr(var="topic", op="==", value="general"), {}, SCHEMA, assume_medical) is False
    # Labels that contradict the deployment's assumptions are taken at their word.
    assert decide(CompareExpr(var="topic", op="==", value="general"), {"topic": "general"}, SCHEMA, assume_medical) is True


def test_labels_are_validated_and_undeclared_ones_ignored():
    assert decide(AUTHORIZED, {"authorized": True, "mood": "grumpy"}, SCHEMA) is True
    with pytest.raises(ValueError, match="is bool"):
        decide(AUTHORIZED, {"authorized": "yes"}, SCHEMA)
    with pytest.raises(ValueError, match="one of low, medium, high"):
        decide(RISKY, {"risk": "extreme"}, SCHEMA)
    with pytest.raises(ValueError, match="does not declare"):
        decide(VarExpr(var="unknown"), {}, SCHEMA)
