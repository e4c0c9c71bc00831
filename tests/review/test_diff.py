"""`caic diff` on fixtures: one edit of the base version per kind of change
(section 8), each with the changes it must report; witnesses are checked with
the brute-force oracle (the two versions really differ there). The cosmetic
pair reports nothing with equal hashes; a schema that gained an enum value
reports a `context` change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from oracle import applies, verdict, winner
from typer.testing import CliRunner

from cai_lang.api import check_file
from cai_lang.cli.app import app
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.review.diff import diff_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "review" / "diff"
OLD = FIXTURES / "old.const"
BASE = OLD.read_text(encoding="utf-8")

# (edit of the base, changes that must be reported as (kind, deployment, item, change))
CASES = {
    "deployment_added": ([("", "deployment night {\n    assume risk == high\n}\n")], {("deployment", "night", "night", "added")}),
    "deployment_removed": ([("deployment kids extends clinic {\n    assume minor\n}\n", "")], {("deployment", "kids", "kids", "removed")}),
    "context_added": ([("    minor: bool\n", "    minor: bool\n    urgent: bool\n")], {("context", None, "urgent", "added")}),
    "context_retyped": ([], set()),  # edits below
    "principle_added": ([("priority cautious > brief", 'principle kind {\n    compare "Which response is kinder to a worried user?"\n}\n\npriority cautious > brief')],
                        {("principle", "default", "kind", "added")}),
    "principle_removed": ([("principle brief {", "principle brief_gone {"), ("priority cautious > brief", "priority cautious > brief_gone"), ("disable brief", "disable brief_gone")],
                          {("principle", "default", "brief", "removed"), ("principle", "default", "brief_gone", "added")}),
    "wording": ([("Remove the repeated sentences.", "Remove every repeated sentence.")], {("principle", "default", "brief", "wording changed: revision")}),
    "weight": ([("    applies when topic == medical\n", "    applies when topic == medical\n    weight 2\n")], {("principle", "default", "cautious", "weight changed")}),
    "rule_added": ([("priority duty_to_warn > privacy", "rule quiet {\n    never escalate when minor\n}\n\npriority human_for_legal > quiet\npriority duty_to_warn > privacy")],
                   {("rule", "default", "quiet", "added"), ("verdict", "default", "escalate", "stricter")}),
    "applies_broader": ([("applies when topic == medical", "applies when topic in {medical, legal}")], {("applies", "default", "cautious", "broader")}),
    "applies_narrower": ([("applies when topic == medical", "applies when topic == medical and risk >= medium")], {("applies", "default", "cautious", "narrower")}),
    "applies_changed": ([("applies when topic == medical", "applies when topic == legal")], {("applies", "default", "cautious", "changed")}),
    "verdict_looser": ([("never disclose unless authorized", "never disclose unless authorized or risk == low")], {("verdict", "default", "disclose", "looser")}),
    "verdict_stricter": ([("never disclose unless authorized", "never disclose unless authorized and risk == low")], {("verdict", "default", "disclose", "stricter")}),
    "verdict_incomparable": ([("never disclose unless authorized", "never disclose unless risk == low")], {("verdict", "default", "disclose", "incomparable")}),
    "obligation": ([("always escalate when topic == legal and risk >= medium", "always escalate when topic == legal")],
                   {("verdict", "default", "escalate", "obligation broader")}),
    "preference": ([("prefer cautious when risk >= medium", "prefer cautious when risk == high")], {("preference", "default", "cautious vs helpful", "winner changed")}),
    "priority": ([("priority cautious > brief", "priority brief > cautious")], {("preference", "default", "brief vs cautious", "winner changed")}),
    "assumptions": ([("    assume minor\n", "    assume minor and risk <= medium\n")], {("deployment", "kids", "kids", "assumptions narrower")}),
}


def _apply(edits) -> str:
    text = BASE
    for old, new in edits:
        if old:
            assert old in text, old
            text = text.replace(old, new)
        else:
            text += "\n" + new
    return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kind_of_change(name: str, tmp_path: Path) -> None:
    edits, expected = CASES[name]
    if name == "context_retyped":
        edits = [("    minor: bool\n", "    minor: low | high\n"), ("and not minor", "and minor == low"), ("assume minor", "assume minor == high")]
        expected = {("context", None, "minor", "type changed")}
    new = tmp_path / "new.const"
    new.write_text(_apply(edits), encoding="utf-8")
    assert not check_file(new).errors, [d.message for d in check_file(new).errors]
    result = diff_files(str(OLD), str(new))
    found = {(c.kind, c.deployment, c.item, c.change) for c in result.changes}
    assert expected <= found, found
    # Adding or removing a deployment leaves the other deployments' bundles alone.
    assert any(c.kind == "bundle" for c in result.changes) == (not name.startswith("deployment_"))
    old_c, new_c = check_file(OLD).constitution, check_file(new).constitution
    for change in result.changes:
        if change.kind in ("verdict", "applies", "preference") and change.deployment is not None:
            _witness_shows(change, old_c, new_c)
    assert CliRunner().invoke(app, ["diff", str(OLD), str(new)]).exit_code == 1


def _witness_shows(change, old_c, new_c) -> None:
    """At the witness the two versions really behave differently."""
    assert change.witness is not None
    old_d, new_d = resolve_deployment(old_c, change.deployment), resolve_deployment(new_c, change.deployment)
    # A variable retyped between the versions is two joint variables, `name (old)` and `name (new)`.
    old_v = {k: change.witness.get(k, change.witness.get(f"{k} (old)")) for k in old_c.context}
    new_v = {k: change.witness.get(k, change.witness.get(f"{k} (new)")) for k in new_c.context}
    if change.kind == "verdict":
        before, after = verdict(old_d, change.item, old_v), verdict(new_d, change.item, new_v)
        assert (before, after) == (change.old, change.new) and before != after
    elif change.kind == "applies":
        assert applies(old_d, change.item, old_v) != applies(new_d, change.item, new_v)
    else:
        x, y = change.item.split(" vs ")
        assert winner(old_d, x, y, old_v) != winner(new_d, x, y, new_v)


def test_cosmetic_changes_report_nothing_and_keep_the_hashes() -> None:
    result = diff_files(str(OLD), str(FIXTURES / "cosmetic.const"))
    assert result.changes == []
    assert result.hashes and all(h["old"] == h["new"] for h in result.hashes.values())
    out = CliRunner().invoke(app, ["diff", str(OLD), str(FIXTURES / "cosmetic.const")])
    assert out.exit_code == 0 and out.output.startswith("no change of behaviour")


def test_a_schema_that_gained_an_enum_value() -> None:
    out = CliRunner().invoke(app, ["diff", str(OLD), str(FIXTURES / "enum_gained.const"), "--format", "json"])
    assert out.exit_code == 1
    data = json.loads(out.output)
    context = [c for c in data["changes"] if c["kind"] == "context"]
    assert context == [
        {"kind": "context", "deployment": None, "item": "risk", "change": "values added critical", "old": "enum low | medium | high",
         "new": "enum low | medium | high | critical", "witness": None, "old_location": context[0]["old_location"], "new_location": context[0]["new_location"]}
    ]
    assert {c["kind"] for c in data["changes"]} == {"context", "bundle"}
    assert set(data["summary"]["hashes"]) == {"default", "clinic", "kids"}


def test_text_reads_like_a_review_and_errors_exit_2(tmp_path: Path) -> None:
    new = tmp_path / "new.const"
    new.write_text(_apply(CASES["verdict_looser"][0]), encoding="utf-8")
    out = CliRunner().invoke(app, ["diff", str(OLD), str(new)])
    text = out.output
    assert "verdict on `disclose`: looser (permitted in more contexts)" in text
    assert "old: never   new: allowed" in text and "witness: authorized = false" in text
    assert any(line.startswith("    - ") and "never disclose unless authorized" in line for line in text.splitlines())
    assert "never disclose unless authorized or risk == low" in text
    broken = tmp_path / "broken.const"
    broken.write_text("rule r { never nothing }\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["diff", str(OLD), str(broken)]).exit_code == 2
    assert CliRunner().invoke(app, ["diff", str(OLD), str(tmp_path / "missing.const")]).exit_code == 2
    assert CliRunner().invoke(app, ["diff", str(OLD), str(new), "--deployment", "nowhere"]).exit_code == 2


def test_a_change_in_several_deployments_is_reported_once(tmp_path: Path) -> None:
    new = tmp_path / "new.const"
    new.write_text(_apply(CASES["wording"][0]), encoding="utf-8")
    result = diff_files(str(OLD), str(new))
    wording = [c for c in result.changes if c.kind == "principle"]
    # `brief` is disabled in clinic and kids, so only default has it.
    assert [(c.deployment, c.also_in) for c in wording] == [("default", [])]
    new.write_text(_apply([("Which response answers what the user asked more fully?", "Which response answers the question more fully?")]), encoding="utf-8")
    result = diff_files(str(OLD), str(new))
    (change,) = [c for c in result.changes if c.kind == "principle"]
    assert change.deployment == "default" and change.also_in == ["clinic", "kids"]
