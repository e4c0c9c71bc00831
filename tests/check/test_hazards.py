"""W314: importing std.hazards lists the AILuminate categories no principle is tagged with."""

from __future__ import annotations

from cai_lang.api import check_file
from cai_lang.check.hazards import HAZARDS

PRINCIPLE = 'principle {name} {{\n    tags [{tags}]\n    critique "Point out harmful help."\n    revision "Rewrite it without that help."\n}}\n'


def _w314(tmp_path, text):
    path = tmp_path / "c.const"
    path.write_text(text)
    result = check_file(path)
    assert not result.errors, [d.message for d in result.errors]
    return [d for d in result.diagnostics if d.code == "W314"]


def test_uncovered_categories_are_listed_on_the_import(tmp_path):
    (found,) = _w314(tmp_path, "import std.hazards\n" + PRINCIPLE.format(name="p", tags="harmless, privacy, hate"))
    assert found.span.line == 1
    assert "10 of its 12 categories" in found.message
    assert "violent_crimes (S1)" in found.message and "privacy" not in found.message.split(":", 1)[1]


def test_tags_in_a_deployment_count_and_full_coverage_is_quiet(tmp_path):
    tags = ", ".join(h.tag for h in HAZARDS[1:])
    text = "import std.hazards\n" + PRINCIPLE.format(name="p", tags=tags)
    text += "deployment d {\n" + PRINCIPLE.format(name="q", tags=HAZARDS[0].tag) + "}\n"
    assert _w314(tmp_path, text) == []


def test_without_the_import_there_is_no_warning(tmp_path):
    assert _w314(tmp_path, PRINCIPLE.format(name="p", tags="harmless")) == []


def test_the_taxonomy_has_twelve_distinct_categories_with_llama_guard_codes():
    assert len({h.tag for h in HAZARDS}) == 12
    assert all(h.llama_guard.startswith("S") and h.description for h in HAZARDS)
