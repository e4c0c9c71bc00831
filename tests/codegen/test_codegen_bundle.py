"""What a bundle says about a constitution: items, weights, tiers, conditions, conflicts,
deployment changes; plus constitution.md, the hf-cai export, the schema and refusals."""

from __future__ import annotations

import json

import pytest
from codegen_sources import COMPARE_ONLY, SOURCE, compile_one, compile_text

from cai_lang.api import CompileRefused, UnknownDeployment
from cai_lang.codegen.bundle import Bundle
from cai_lang.codegen.compiler import bundle_files
from cai_lang.codegen.hf_export import hf_cai_constitution
from cai_lang.codegen.markdown import render_markdown
from cai_lang.codegen.schema import bundle_schema


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Bundle]:
    found = compile_text(tmp_path_factory.mktemp("bundles"), SOURCE, all_deployments=True)
    return {b.deployment.name: b for b in found}


def test_all_compiles_default_then_each_deployment(bundles):
    assert list(bundles) == ["default", "clinic", "research"]


def test_principles_carry_effective_weights_phases_and_conditions(bundles):
    default = bundles["default"]
    assert [p.id for p in default.principles] == ["accurate", "cautious", "helpful"]
    accurate = default.principle("accurate")
    assert (accurate.weight, accurate.tags, accurate.phases) == (2.0, ("honesty", "medical"), ("sl", "rl"))
    assert accurate.description == "Medical statements are correct and hedged."
    assert accurate.applies.tree.model_dump() == {"kind": "compare", "var": "topic", "op": "==", "value": "medical"}
    assert accurate.applies.text == "topic is medical"
    assert default.principle("helpful").applies.text == "always"
    clinic = bundles["clinic"]
    assert [p.id for p in clinic.principles] == ["accurate", "bedside", "helpful"]
    assert clinic.principle("helpful").weight == 3.0
    assert clinic.principle("bedside").phases == ("rl",)
    assert clinic.principle("bedside").origin == "clinic"


def test_rules_keep_their_regex_and_get_wording_from_action_and_condition(bundles):
    rule = bundles["default"].rule("hipaa")
    assert (rule.verdict, rule.action, rule.weight, rule.phases) == ("never", "disclose_phi", 1.0, ("sl", "rl"))
    assert rule.detect == r"\b\d{3}-\d{2}-\d{4}\b"
    assert rule.applies.tree.model_dump() == {"kind": "not", "operand": {"kind": "var", "var": "authorized"}}
    assert rule.applies.text == "not authorized"
    assert rule.statement == "Never reveal a patient's protected health information unless authorized."
    for request in (rule.wording.critique_request, rule.wording.revision_request, rule.wording.comparison_question):
        assert "never reveal a patient's protected health information unless authorized" in request


def test_priority_order_becomes_tiers_and_ranked_pairs(bundles):
    default = bundles["default"].priority
    assert default.tiers == (("cautious", "hipaa"), ("accurate",), ("helpful",))
    assert default.order == (("accurate", "helpful"), ("hipaa", "accurate"), ("hipaa", "helpful"))
    clinic = bundles["clinic"]
    assert clinic.priority.tiers == (("bedside", "hipaa"), ("accurate",), ("helpful",))
    assert ("bedside", "helpful") in clinic.priority.order
    assert clinic.rule("hipaa").tier == 0 and clinic.principle("helpful").tier == 2


def test_conflicts_are_recorded_with_sorted_clauses_and_a_resolution(bundles):
    (conflict,) = bundles["default"].conflicts
    assert (conflict.left, conflict.right) == ("helpful", "cautious")
    assert [(c.prefer, c.when.text if c.when else None) for c in conflict.clauses] == [("cautious", "risk is high"), ("helpful", None)]
    assert conflict.resolution == "When both `helpful` and `cautious` apply: prefer `cautious` when risk is high; otherwise prefer `helpful`."
    # `clinic` disables one side, so the conflict cannot arise there; `research` enables it again.
    assert bundles["clinic"].conflicts == ()
    assert len(bundles["research"].conflicts) == 1


def test_deployment_records_its_chain_assumptions_and_changes(bundles):
    assert bundles["default"].deployment.base is None and bundles["default"].deployment.changes is None
    clinic = bundles["clinic"].deployment
    assert (clinic.base, clinic.chain) == ("default", ("default", "clinic"))
    assert [a.text for a in clinic.assumptions] == ["topic is medical"]
    assert clinic.changes.added == ("bedside",)
    assert clinic.changes.removed == ("cautious",)
    assert [(r.id, r.before, r.after) for r in clinic.changes.reweighted] == [("helpful", 1.0, 3.0)]
    assert clinic.changes.priorities == (("bedside", "helpful"),)
    research = bundles["research"].deployment
    assert (research.base, research.chain) == ("clinic", ("default", "clinic", "research"))
    assert research.changes.added == ("cautious",) and research.changes.removed == ()
    assert [a.text for a in research.changes.assumptions] == ["authorized"]
    assert [a.text for a in research.assumptions] == ["authorized", "topic is medical"]


def test_context_schema_is_sorted_with_enum_values_in_declared_order(bundles):
    context = bundles["default"].context
    assert [(v.name, v.kind, v.values) for v in context] == [
        ("authorized", "bool", ()),
        ("risk", "enum", ("low", "medium", "high")),
        ("topic", "enum", ("general", "medical", "legal")),
    ]


def test_trainer_picks_items_by_partial_context_labels(bundles):
    default = bundles["default"]
    assert [p.id for p in default.principles_for({"topic": "legal", "risk": "low"})] == ["helpful"]
    # Unknown variables: a principle that might apply is used.
    assert [p.id for p in default.principles_for({})] == ["accurate", "cautious", "helpful"]
    assert [p.id for p in default.principles_for({}, phase="sl")] == ["accurate", "cautious", "helpful"]
    assert default.decide(default.rule("hipaa").applies, {}) is None
    assert [r.id for r in default.rules_for({"authorized": True})] == []
    # In `research` the deployment assumes `authorized`, so the rule can never be in force.
    research = bundles["research"]
    # `research` assumes `authorized`, so `never disclose unless authorized` can never apply
    # there: the rule is left out of its bundle, with a note (language 1.2).
    assert "hipaa" not in [r.id for r in research.rules]
    assert [(o.id, o.kind) for o in research.omitted] == [("hipaa", "rule")] and "assumptions" in research.omitted[0].note
    assert research.decide(research.principle("accurate").applies, {}) is True
    assert [p.id for p in bundles["clinic"].principles_for({}, phase="sl")] == ["accurate", "helpful"]


def test_constitution_md_is_an_auditable_rendering(bundles):
    text = render_markdown(bundles["clinic"])
    assert text == bundle_files(bundles["clinic"])["constitution.md"]
    assert text.startswith("# Constitution `clinicbot`, deployment `clinic`\n")
    assert bundles["clinic"].content_hash in text
    # Principles in priority order: tier 0 `bedside`, then `accurate`, then `helpful`.
    positions = [text.index(f"### `{name}`") for name in ("bedside", "accurate", "helpful")]
    assert positions == sorted(positions)
    assert "**Never reveal a patient's protected health information unless authorized.**" in text
    assert "- In force when not authorized" in text
    assert "### Changes against `default`" in text
    assert "- Disabled here: `cautious`" in text and "- Reweighted: `helpful` 1 → 3" in text
    assert "- New priorities: `bedside` > `helpful`" in text
    default_text = render_markdown(bundles["default"])
    assert "prefer `cautious` when risk is high; otherwise prefer `helpful`" in default_text
    assert "| `risk` | low < medium < high |" in default_text


def test_hf_cai_export_has_critic_revision_pairs_and_few_shot_dialogues(bundles):
    exported = hf_cai_constitution(bundles["default"])
    assert set(exported) == {"constitutions", "system_chat"}
    default = bundles["default"]
    # In priority order: tier 0 (`cautious`, `hipaa`), then `accurate`, then `helpful`.
    expected = [default.item(i).wording for i in ("cautious", "hipaa", "accurate", "helpful")]
    assert exported["constitutions"] == [{"critic": w.critique_request, "revision": w.revision_request} for w in expected]
    (dialogue,) = exported["system_chat"]
    example = default.principle("helpful").examples[0]
    helpful = default.principle("helpful").wording
    assert dialogue == [
        {"role": "user", "content": example.prompt},
        {"role": "assistant", "content": example.response},
        {"role": "user", "content": helpful.critique_request},
        {"role": "assistant", "content": example.critique},
        {"role": "user", "content": helpful.revision_request},
        {"role": "assistant", "content": example.revision},
    ]


def test_rl_only_principles_are_left_out_of_the_hf_export(tmp_path):
    exported = hf_cai_constitution(compile_one(tmp_path, COMPARE_ONLY))
    assert len(exported["constitutions"]) == 1 and exported["system_chat"] == []


def test_json_schema_describes_every_top_level_field(bundles):
    schema = bundle_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    # `few_shot` is left out of a bundle that has no shared few-shots (older bundles lack it).
    # So are `permissions` (no actions) and `omitted` (nothing ruled out) when empty.
    assert set(schema["properties"]) == set(json.loads(bundles["default"].to_json())) | {"few_shot", "omitted"}
    assert "few_shot" not in schema.get("required", [])
    assert schema["additionalProperties"] is False
    for name in ("PrincipleEntry", "RuleEntry", "Template", "ConflictEntry", "CompareExpr"):
        assert name in schema["$defs"]


def test_a_file_with_errors_is_refused(tmp_path):
    with pytest.raises(CompileRefused) as refused:
        compile_text(tmp_path, "principle p { critique \"x\" }\npriority p > nowhere\n")
    codes = {d.code for d in refused.value.result.errors}
    assert "E101" in codes
    assert refused.value.sources


def test_an_unknown_deployment_is_refused(tmp_path):
    with pytest.raises(UnknownDeployment, match="default, clinic, research"):
        compile_text(tmp_path, SOURCE, deployment="hospital")
