"""Deployment-aware wording (language 1.2, section 9), pinned by goldens through `caic render`:
descriptions replace variable names, and what a deployment's assumptions
decide is left out of its wording; an item that can never apply there is
left out of its bundle, with a note."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from cai_lang.cli.app import app

runner = CliRunner()

WEALTH = '''context {
    licensed_session: bool "a licensed adviser supervises this session"
    risk: low | medium | high "the harm the request could lead to"
}

action name_security "name a specific security to buy or sell"

rule no_personal_picks {
    never name_security unless licensed_session and risk <= medium
}

deployment retail_app {
    assume not licensed_session
}

deployment advisers {
    assume licensed_session
}

deployment small_talk {
    assume licensed_session and risk == low
}
'''

TAIL = (
    " Identify every place where the last response breaks it, quoting the words that do so. If it does not, say so plainly."
    ' If the response has nothing to fix under this request, reply with exactly "No changes needed." and nothing else.'
)
BASE = (
    "This conversation is subject to a hard rule: the assistant must never name a specific security to buy or sell"
    " unless a licensed adviser supervises this session and the harm the request could lead to is medium or lower." + TAIL
)
RETAIL = "This conversation is subject to a hard rule: the assistant must never name a specific security to buy or sell." + TAIL
ADVISERS = (
    "This conversation is subject to a hard rule: the assistant must never name a specific security to buy or sell"
    " unless the harm the request could lead to is medium or lower." + TAIL
)


def _critique(tmp_path: Path, deployment: str | None) -> str:
    path = tmp_path / "wealth.const"
    path.write_text(WEALTH, encoding="utf-8")
    args = ["render", str(path), "-p", "no_personal_picks", "--phase", "critique"] + (["-d", deployment] if deployment else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output.rstrip("\n").rsplit("\n", 1)[-1]


def test_base_wording_uses_descriptions_not_names(tmp_path: Path) -> None:
    text = _critique(tmp_path, None)
    assert text == BASE
    assert not re.search(r"licensed.session|\brisk\b", text)


def test_a_deployment_that_decides_the_condition_states_the_rule_unconditionally(tmp_path: Path) -> None:
    assert _critique(tmp_path, "retail_app") == RETAIL


def test_a_deployment_that_decides_part_of_the_condition_states_only_the_rest(tmp_path: Path) -> None:
    assert _critique(tmp_path, "advisers") == ADVISERS


def test_an_item_that_can_never_apply_is_left_out_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "wealth.const"
    path.write_text(WEALTH, encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["compile", str(path), "--all", "-o", str(out)])
    assert result.exit_code == 0, result.output
    bundle = json.loads((out / "small_talk" / "bundle.json").read_text(encoding="utf-8"))
    assert [r["id"] for r in bundle["rules"]] == []
    assert [(o["id"], o["kind"]) for o in bundle["omitted"]] == [("no_personal_picks", "rule")]
    markdown = (out / "small_talk" / "constitution.md").read_text(encoding="utf-8")
    assert "## Left out of this deployment" in markdown and "no_personal_picks" in markdown
    render = runner.invoke(app, ["render", str(path), "-p", "no_personal_picks", "--phase", "critique", "-d", "small_talk"])
    assert render.exit_code == 2 and "left out" in render.output
    # Descriptions and who may set each variable reach the bundle.
    context = {v["name"]: v for v in bundle["context"]}
    assert context["licensed_session"]["description"] == "a licensed adviser supervises this session"
