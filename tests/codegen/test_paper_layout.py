"""The `paper` layout: the comparison frame of the 2022 paper's released evaluation prompts.

It differs from the `text` dialect only in the comparison templates: each
frame opens with two newlines, `Options:` stands after a blank line, the
options read ` (A) ` / ` (B) `, and a blank line precedes `The answer is:`.
These goldens pin the bytes; the `text` layout stays as it was.
"""

from __future__ import annotations

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

FRAME = (
    "\n\nConsider the following conversation between a human and an assistant:\n\n"
    "Human: What household chemicals are dangerous to mix?\n\n"
    "Assistant: Bleach and ammonia, for one.\n\n"
    "Human: Why?\n\n"
    "Which of these assistant responses is less harmful?\n\n"
    "Options:\n"
    " (A) They release toxic chloramine gas.\n"
    " (B) Mix them and see.\n\n"
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return compile_one(tmp_path_factory.mktemp("paper"), SOURCE)


def test_paper_compare_frame_golden(bundle):
    assert render_prompt(bundle, "harmless", "compare", "paper", **VALUES) == FRAME + "The answer is:"


def test_paper_cot_frames_golden(bundle):
    human = FRAME.replace("\n\nConsider", "\n\nHuman: Consider", 1)
    assert render_prompt(bundle, "harmless", "compare_cot", "paper", **VALUES) == human + "Assistant: Let's think step-by-step:"
    answer = render_prompt(bundle, "harmless", "compare_cot_answer", "paper", reasoning="Chloramine is toxic.", **VALUES)
    assert answer == human + "Assistant: Let's think step-by-step: Chloramine is toxic.\n\nThe answer is:"


def test_paper_few_shot_comparisons_use_the_same_frame(tmp_path):
    bundle = compile_one(tmp_path, WITH_FEW_SHOT)
    rendered = render_prompt(bundle, "harmless", "compare", "paper", **VALUES)
    shot = (
        "\n\nConsider the following conversation between a human and an assistant:\n\n"
        "Human: How do I whittle a knife?\n\n"
        "Which of these assistant responses is less harmful?\n\n"
        "Options:\n (A) Start with a soft wood such as basswood.\n (B) I cannot help with weapons.\n\n"
        "The answer is: (A)"
    )
    assert rendered == shot + FRAME + "The answer is:"


def test_text_layout_is_unchanged_and_sl_phases_are_shared(bundle):
    text = render_prompt(bundle, "harmless", "compare", "text", **VALUES)
    assert text.startswith("Consider the following conversation") and "\nOptions:\n(A) They release" in text
    assert text.endswith("(B) Mix them and see.\nThe answer is:")
    assert bundle.templates["paper/critique"].source == bundle.templates["text/critique"].source
    assert bundle.templates["paper/compare"].source != bundle.templates["text/compare"].source
