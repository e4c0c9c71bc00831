"""Every stdlib module and example that checks clean compiles, reloads and renders.

These files are still being written by others, so one that does not check
clean yet is skipped rather than failed; the compiler's own guarantees are
tested on the sources in codegen_sources.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cai_lang.api import compile_file
from cai_lang.codegen.bundle import load_bundle
from cai_lang.codegen.compiler import write_bundle
from cai_lang.codegen.hf_export import hf_cai_constitution
from cai_lang.codegen.templates import PHASES, render_prompt

REPO = Path(__file__).resolve().parents[2]
CORPUS = sorted((REPO / "stdlib_constitutions").glob("*.const")) + sorted((REPO / "examples").glob("*.const"))
PHASE_OF = {"critique": "sl", "revision": "sl", "compare": "rl", "compare_cot": "rl", "compare_cot_answer": "rl"}
VALUES = {
    "critique": {"conversation": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
    "revision": {"conversation": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "critique": "c"},
    "compare": {"conversation": [{"role": "user", "content": "q"}], "response_a": "a", "response_b": "b"},
}
VALUES["compare_cot"] = VALUES["compare"]
VALUES["compare_cot_answer"] = {**VALUES["compare"], "reasoning": "r"}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_file_compiles_reloads_and_renders(path, tmp_path):
    bundles = compile_file(path, all_deployments=True)  # a file of the corpus that stops checking clean fails here
    again = compile_file(path, all_deployments=True)
    assert [b.content_hash for b in again] == [b.content_hash for b in bundles]
    for bundle in bundles:
        write_bundle(bundle, tmp_path)
        assert load_bundle(tmp_path / bundle.deployment.name) == bundle
        hf_cai_constitution(bundle)
        for entry in (*bundle.principles, *bundle.rules):
            for phase in PHASES:
                if PHASE_OF[phase] not in entry.phases:
                    continue
                for dialect in ("chat", "text"):
                    assert render_prompt(bundle, entry.id, phase, dialect, **VALUES[phase])
