"""Language 1.2 (section 9): the new syntax, hard rules (E209-E211, W311) and who
can change a verdict, on small hand-written constitutions. The brute-force
comparisons are in tests/review/test_authority_properties.py."""

from __future__ import annotations

from pathlib import Path

from cai_lang.api import check_file
from cai_lang.check.authority import who_can_change
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.span import SourceFile
from cai_lang.syntax.module import parse_module
from cai_lang.syntax.printer import print_module


def parse_source(text: str, name: str):
    module, diagnostics = parse_module(SourceFile(name, text))
    return module, diagnostics


HEAD = '''context {
    adult: bool "the user says they are an adult" by user
    verified: bool "the operator verified the user's age"
    risk: low | medium | high "how much harm the request could lead to" by operator
}
action uplift "give meaningful help towards a weapon of mass harm"
action explicit "write sexually explicit content"
principle helpful {
    critique "Point out where the response fails to answer what was asked."
    revision "Rewrite the response so it answers what was asked."
    compare "Which response answers the question that was asked?"
}
hard rule no_uplift {
    never uplift
}
'''


def _check(tmp_path: Path, source: str):
    path = tmp_path / "a.const"
    path.write_text(HEAD + source, encoding="utf-8")
    return check_file(path)


def _codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_version_1_1_files_that_use_the_new_words_as_names_stay_valid(tmp_path: Path) -> None:
    source = (
        "context {\n    by: bool\n    user: operator | hard\n    operator: bool\n    hard: bool\n}\n"
        'action hard\n'  # `hard` then `rule` on the next line: still an action and a rule
        "rule by_rule {\n    never hard when by and user == hard and operator\n}\n"
        "priority by_rule > hard_rule\n"
        "rule hard_rule {\n    always hard when not by\n}\n"
        "deployment hard_place {\n    disable by_rule\n    enable by_rule\n    assume hard\n    rule inner {\n        never hard when not by\n    }\n    priority inner > hard_rule\n}\n"
    )
    path = tmp_path / "old.const"
    path.write_text(source, encoding="utf-8")
    result = check_file(path)
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    variables = {v.name: v for v in result.constitution.context.values()}
    assert set(variables) == {"by", "user", "operator", "hard"}
    assert all(v.set_by == "operator" and v.description is None for v in variables.values())
    assert not any(r.node.hard for r in result.constitution.rules.values())
    # `assume hard` then `rule inner`: the 1.1 reading (a condition, then an ordinary rule).
    inner = result.constitution.deployments["hard_place"]
    assert [r.id for r in inner.rules] == ["inner"] and not inner.rules[0].node.hard and len(inner.assumptions) == 1


def test_new_forms_parse_and_format_canonically() -> None:
    messy = (
        'context { adult : bool "says adult"   by user  risk: low|high by operator }\n'
        "hard   rule  r { never x }\naction x\n"
        "test t { expect users  cannot change x expect users can change x }\n"
    )
    module, problems = parse_source(messy, "m.const")
    assert not problems
    text = print_module(module, messy)
    assert 'adult: bool "says adult" by user' in text
    assert "risk: low | high by operator" in text
    assert "hard rule r {" in text
    assert "expect users cannot change x" in text and "expect users can change x" in text
    again, _ = parse_source(text, "m.const")
    assert print_module(again, text) == text


def test_a_misspelled_marker_is_a_syntax_error_with_a_location() -> None:
    for source, word in (("soft rule r { never x }\naction x\n", "soft"), ("context { a: bool by admin }\n", "admin")):
        _, problems = parse_source(source, "m.const")
        assert [d.code for d in problems] == ["E001"], problems
        assert word in problems[0].message


def test_e209_disable_and_weight(tmp_path: Path) -> None:
    result = _check(tmp_path, "deployment lab {\n    disable no_uplift\n}\ndeployment lab2 {\n    weight no_uplift 2\n}\n")
    found = [d for d in result.diagnostics if d.code == "E209"]
    assert {d.deployment for d in found} == {"lab", "lab2"}
    assert {"disables" in d.message for d in found} == {True, False}
    assert "E107" not in _codes(result)  # a hard rule's weight is E209, not a field error


def test_e210_direct_transitive_and_by_clause(tmp_path: Path) -> None:
    result = _check(tmp_path, "rule soft {\n    never explicit\n}\npriority helpful > soft > no_uplift\n")
    found = sorted(d.message for d in result.diagnostics if d.code == "E210")
    assert len(found) == 2 and any("through `soft`" in m for m in found)
    ok = _check(tmp_path, "hard rule other {\n    never explicit\n}\npriority other > no_uplift > helpful\n")
    assert "E210" not in _codes(ok)
    clause = _check(tmp_path, "conflict helpful vs no_uplift {\n    prefer helpful when risk == low\n    prefer no_uplift otherwise\n}\n")
    found = [d for d in clause.diagnostics if d.code == "E210"]
    assert len(found) == 1 and found[0].witness["risk"] == "low"
    never = _check(tmp_path, "conflict helpful vs no_uplift {\n    prefer helpful when risk == low\n    prefer no_uplift otherwise\n}\ndeployment safe {\n    assume risk == high\n}\n")
    assert [d.deployment for d in never.diagnostics if d.code == "E210"] == ["default"]


def test_e211_pair_and_an_assumption_that_removes_it(tmp_path: Path) -> None:
    result = _check(tmp_path, "hard rule adults {\n    never explicit unless adult\n}\ndeployment kids {\n    assume risk == high\n}\n")
    found = [d for d in result.diagnostics if d.code == "E211"]
    assert len(found) == 1 and "also in deployment `kids`" in found[0].message
    a, b = found[0].witness, found[0].witness_other
    assert a["adult"] != b["adult"] and {k: v for k, v in a.items() if k != "adult"} == {k: v for k, v in b.items() if k != "adult"}
    # An operator variable in the condition is fine: users cannot set it.
    assert "E211" not in _codes(_check(tmp_path, "hard rule adults {\n    never explicit unless verified\n}\n"))


def test_e211_through_another_rule_changing_the_verdict(tmp_path: Path) -> None:
    # The hard rule applies everywhere, but a user-set rule outranks it: the verdict changes (E210 too).
    result = _check(tmp_path, "rule unlock {\n    always uplift when adult\n}\npriority unlock > no_uplift\n")
    assert "E211" in _codes(result) and "E210" in _codes(result)


def test_w311_when_assumptions_rule_a_hard_rule_out(tmp_path: Path) -> None:
    source = "hard rule kids {\n    never explicit when not verified\n}\ndeployment checked {\n    assume verified\n}\n"
    result = _check(tmp_path, source)
    found = [d for d in result.diagnostics if d.code == "W311"]
    assert [d.deployment for d in found] == ["checked"]


def test_who_can_change_each_verdict(tmp_path: Path) -> None:
    source = "rule adults {\n    never explicit unless adult\n}\ndeployment age_checked {\n    assume adult\n}\n"
    result = _check(tmp_path, source)
    default = resolve_deployment(result.constitution, "default")
    assert who_can_change(default, "uplift") == {"who": "nobody", "variables": []}
    assert who_can_change(default, "explicit") == {"who": "user", "variables": ["adult"]}
    checked = resolve_deployment(result.constitution, "age_checked")
    assert who_can_change(checked, "explicit") == {"who": "operator", "variables": []}


def test_the_witness_pair_reaches_every_output_format(tmp_path: Path) -> None:
    import json

    from cai_lang.diagnostics.render import format_text, render_json, render_sarif
    from cai_lang.lsp.diagnostics import _message

    result = _check(tmp_path, "hard rule adults {\n    never explicit unless adult\n}\n")
    (finding,) = [d for d in result.diagnostics if d.code == "E211"]
    text = format_text(finding, {})
    assert "= witness: adult = " in text and "= against: adult = " in text
    (entry,) = json.loads(render_json([finding]))["diagnostics"]
    assert entry["witness"]["adult"] != entry["witness_other"]["adult"]
    (sarif,) = json.loads(render_sarif([finding]))["runs"][0]["results"]
    assert sarif["properties"]["witness_other"] == finding.witness_other
    assert "against: adult = " in _message(finding)
