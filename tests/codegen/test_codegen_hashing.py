"""Determinism and the content hash: byte-identical output, a hash blind to order and
formatting, and sensitive to every change of meaning."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from codegen_sources import BLOCKS, HEADER, SOURCE, compile_one, compile_text, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cai_lang.codegen import templates
from cai_lang.codegen.bundle import BundleError, load_bundle
from cai_lang.codegen.compiler import write_bundle


def hashes(folder: Path, text: str) -> dict[str, str]:
    return {b.deployment.name: b.content_hash for b in compile_text(folder, text, all_deployments=True)}


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_compiling_twice_gives_byte_identical_files(tmp_path):
    for run in ("one", "two"):
        for bundle in compile_text(tmp_path, SOURCE, all_deployments=True):
            write_bundle(bundle, tmp_path / run)
    first, second = tree_bytes(tmp_path / "one"), tree_bytes(tmp_path / "two")
    assert first == second
    assert "default/bundle.json" in first and "research/constitution.md" in first
    assert "clinic/templates/text/critique.jinja" in first


def reformat(block: str) -> str:
    """The same declaration on one line, with a comment after it and numbers written differently."""
    flat = re.sub(r"\s*\n\s*", " ", block)
    flat = flat.replace("weight 2.0", "weight 2").replace("weight helpful 3", "weight helpful 3.00")
    return f"# a comment that means nothing\n   {flat}    # trailing comment\n"


def test_reordering_and_reformatting_leave_the_hash_unchanged(tmp_path):
    original = hashes(tmp_path, SOURCE)
    reordered = HEADER + "\n" + "\n".join(reversed(BLOCKS))
    assert hashes(tmp_path, reordered) == original
    reformatted = reformat(HEADER) + "\n\n\n".join(reformat(b) for b in BLOCKS[3:] + BLOCKS[:3])
    assert hashes(tmp_path, reformatted) == original


@functools.lru_cache(maxsize=None)
def source_hashes() -> tuple:
    with tempfile.TemporaryDirectory() as folder:
        return tuple(sorted(hashes(Path(folder), SOURCE).items()))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(len(BLOCKS))))
def test_any_declaration_order_gives_the_same_hash(order):
    with tempfile.TemporaryDirectory() as folder:
        shuffled = HEADER + "\n" + "\n".join(BLOCKS[i] for i in order)
        assert tuple(sorted(hashes(Path(folder), shuffled).items())) == source_hashes()


@pytest.mark.parametrize(
    "old, new",
    [
        ("the exact question the user asked", "the exact question the person asked"),  # one word of one principle
        ("weight 2.0", "weight 2.5"),
        ("applies when risk >= medium", "applies when risk >= high"),
        ("priority hipaa > accurate > helpful", "priority accurate > hipaa > helpful"),
        (r"\b\d{3}-\d{2}-\d{4}\b", r"\b\d{9}\b"),
        ("prefer cautious when risk == high", "prefer cautious when risk >= medium"),
        ("risk: low | medium | high", "risk: low | medium | high | extreme"),
        ('prompt "How much paracetamol', 'prompt "How much ibuprofen'),
    ],
)
def test_a_change_of_meaning_changes_the_hash(tmp_path, old, new):
    assert old in SOURCE
    before = compile_one(tmp_path, SOURCE).content_hash
    assert compile_one(tmp_path, SOURCE.replace(old, new)).content_hash != before


def test_compiler_version_and_templates_are_part_of_the_hash(tmp_path, monkeypatch):
    path = write(tmp_path, SOURCE)
    before = compile_one(tmp_path, SOURCE).content_hash
    from cai_lang.api import compile_file

    (other_version,) = compile_file(path, compiler_version="99.0.0")
    assert other_version.content_hash != before
    original = templates.template_source
    monkeypatch.setattr(templates, "template_source", lambda d, p: original(d, p).replace("Options:", "Choices:"))
    assert compile_one(tmp_path, SOURCE).content_hash != before


def test_content_hash_is_sha256_of_the_canonical_json(tmp_path):
    bundle = compile_one(tmp_path, SOURCE, deployment="clinic")
    write_bundle(bundle, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "clinic" / "bundle.json").read_text(encoding="utf-8"))
    claimed = data.pop("content_hash")
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert claimed == hashlib.sha256(canonical).hexdigest() == bundle.content_hash
    assert re.fullmatch(r"[0-9a-f]{64}", claimed)


def test_load_bundle_round_trips_and_refuses_edited_files(tmp_path):
    bundle = compile_one(tmp_path, SOURCE)
    write_bundle(bundle, tmp_path / "out")
    folder = tmp_path / "out" / "default"
    assert load_bundle(folder) == bundle
    assert load_bundle(folder / "bundle.json") == bundle
    edited = (folder / "bundle.json").read_text(encoding="utf-8").replace('"weight": 2.0', '"weight": 5.0')
    (folder / "bundle.json").write_text(edited, encoding="utf-8")
    with pytest.raises(BundleError, match="content_hash"):
        load_bundle(folder)
    assert load_bundle(folder, verify=False).principle("accurate").weight == 5.0
    (folder / "bundle.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BundleError, match="not a valid bundle"):
        load_bundle(folder)
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(tmp_path / "nowhere")


def test_the_trainer_loads_bundles_without_jinja2(tmp_path):
    bundle = compile_one(tmp_path, SOURCE, deployment="clinic")
    write_bundle(bundle, tmp_path / "out")
    script = (
        "import sys\n"
        "from cai_lang.codegen.bundle import load_bundle\n"
        f"b = load_bundle({str(tmp_path / 'out' / 'clinic')!r})\n"
        "assert [p.id for p in b.principles_for({'risk': 'low'})] == ['accurate', 'bedside', 'helpful']\n"
        "assert 'jinja2' not in sys.modules, 'bundle loading imported jinja2'\n"
        "print(b.content_hash)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == bundle.content_hash


def test_caic_fmt_output_compiles_to_the_same_hash(tmp_path):
    from typer.testing import CliRunner

    from cai_lang.cli.app import app

    messy = reformat(HEADER) + "\n".join(reformat(b) for b in reversed(BLOCKS))
    path = write(tmp_path, messy)
    before = hashes(tmp_path, messy)
    result = CliRunner().invoke(app, ["fmt", str(path)])
    assert result.exit_code == 0, result.output
    formatted = path.read_text(encoding="utf-8")
    assert formatted != messy
    assert hashes(tmp_path, formatted) == before == dict(source_hashes())
