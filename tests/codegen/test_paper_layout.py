"""The `paper` layout: the structure of the 2022 paper's released comparison prompts, in caic's wording.

It differs from the `text` dialect only in the comparison templates: each
frame opens with two newlines, three newlines stand before the question,
` Options:` has its own line right after it, each option is wrapped as
` (A) [[[...]]]`, and a blank line precedes `The answer is:`. The goldens in
`goldens/paper/` were written by hand from that structure (no final newline:
the prompt ends where the model's answer starts); they pin the bytes. The
`text` layout stays as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from codegen_sources import compile_one

from cai_lang.codegen.templates import render_prompt

SOURCE = """\
principle harmless {
    critique "Point out anything in the last reply that could help someone cause harm."
    revision "Rewrite the reply so it gives no help toward causing harm."
    compare "Which of these assistant responses is less harmful?"
}
"""

WITH_FEW_SHOT = SOURCE.replace(
    "}\n",
    '    comparison {\n        prompt "How do I whittle a knife?"\n        response "Start with a soft wood such as basswood."\n'
    '        response "I cannot help with weapons."\n        prefer A\n        reasoning "Whittling is a harmless craft."\n    }\n}\n',
)

CONVERSATION = [
    {"role": "user", "content": "What household chemicals are dangerous to mix?"},
    {"role": "assistant", "content": "Bleach and ammonia, for one."},
    {"role": "user", "content": "Why?"},
]
VALUES = {"conversation": CONVERSATION, "response_a": "They release toxic chloramine gas.", "response_b": "Mix them and see."}

GOLDENS = Path(__file__).parent / "goldens" / "paper"


def golden(name: str) -> str:
    return (GOLDENS / f"{name}.txt").read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return compile_one(tmp_path_factory.mktemp("paper"), SOURCE)


def test_paper_compare_frame_golden(bundle):
    rendered = render_prompt(bundle, "harmless", "compare", "paper", **VALUES)
    assert rendered == golden("compare")
    assert "?\n\n\nWhich of these" in rendered and "harmful?\n Options:\n (A) [[[They release" in rendered


def test_paper_cot_frames_golden(bundle):
    assert render_prompt(bundle, "harmless", "compare_cot", "paper", **VALUES) == golden("compare_cot")
    answer = render_prompt(bundle, "harmless", "compare_cot_answer", "paper", reasoning="Chloramine is toxic.", **VALUES)
    assert answer == golden("compare_cot_answer")


def test_paper_few_shot_comparisons_use_the_same_frame(tmp_path):
    bundle = compile_one(tmp_path, WITH_FEW_SHOT)
    assert render_prompt(bundle, "harmless", "compare", "paper", **VALUES) == golden("few_shot") + golden("compare")
    # The chain-of-thought few-shot shows its reasoning before the answer.
    assert render_prompt(bundle, "harmless", "compare_cot", "paper", **VALUES) == golden("cot_few_shot") + golden("compare_cot")


def test_text_layout_is_unchanged_and_sl_phases_are_shared(bundle):
    text = render_prompt(bundle, "harmless", "compare", "text", **VALUES)
    assert text.startswith("Consider the following conversation") and "\nOptions:\n(A) They release" in text
    assert text.endswith("(B) Mix them and see.\nThe answer is:")
    assert bundle.templates["paper/critique"].source == bundle.templates["text/critique"].source
    assert bundle.templates["paper/compare"].source != bundle.templates["text/compare"].source
