"""Model cards for the models caic trains.

A card is the `README.md` saved beside a fine-tuned model: YAML front matter
the Hub reads (library, base model, tags), then the constitution and
deployment the model was trained towards with the bundle's `content_hash`
(the one fact that pins down exactly which principles and wording shaped
the data), the data it saw, how it was trained, and what it can and cannot
show. When the base model is one of caic's random test models the card
says, first and plainly, that the result is noise. Pure text formatting:
nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

RANDOM_MODEL_TAG = "random-weights"


def is_random_test_model(model: str) -> bool:
    """Whether `model` is a folder holding one of caic's random tiny models (by its card's tag)."""
    card = Path(model) / "README.md"
    try:
        return RANDOM_MODEL_TAG in card.read_text(encoding="utf-8")
    except OSError:
        return False


@dataclass
class CardFacts:
    """What a model card states; every field is shown as given."""

    constitution: str
    constitution_version: str | None
    deployment: str
    content_hash: str
    base_model: str
    phase: str = "sl"
    data: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    random_base: bool = False


def sl_model_card(facts: CardFacts) -> str:
    """The card of a model fine-tuned on SL-CAI revisions."""
    tags = ["caic", "constitutional-ai", "sl-cai", "trl", "sft"]
    if facts.random_base:
        tags.append(RANDOM_MODEL_TAG)
    front = ["---", "library_name: transformers", f"tags: [{', '.join(tags)}]"]
    if not Path(facts.base_model).exists():
        front.append(f"base_model: {facts.base_model}")
    front.append("---")
    version = f" {facts.constitution_version}" if facts.constitution_version else ""
    lines = [
        *front,
        "",
        f"# {facts.constitution}{version} / {facts.deployment}: SL-CAI fine-tune of {Path(facts.base_model).name}",
        "",
    ]
    if facts.random_base:
        lines += [
            "**The base model has random weights. This model's text is noise. It proves the pipeline ran, not alignment.**",
            "",
        ]
    lines += [
        "Fine-tuned with supervised learning on responses revised by critique → revision rounds against a",
        "constitution compiled by caic (the SL stage of Constitutional AI, Bai et al. 2022).",
        "",
        "| | |",
        "|---|---|",
        f"| constitution | `{facts.constitution}`{' version ' + facts.constitution_version if facts.constitution_version else ''} |",
        f"| deployment | `{facts.deployment}` |",
        f"| bundle content_hash | `{facts.content_hash}` |",
        f"| base model | `{facts.base_model}` |",
        f"| phase | {facts.phase} |",
    ]
    if facts.run_dir:
        lines.append(f"| run folder | `{facts.run_dir}` (see its `run.json`) |")
    lines += ["", "## Data", ""]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in facts.data.items()]
    lines += ["", "## Training", ""]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in facts.training.items()]
    lines += [
        "",
        "## What this model can and cannot show",
        "",
        "- The `content_hash` identifies the exact compiled constitution (principles, weights, wording,",
        "  templates) that produced the critiques and revisions; the same hash means the same bundle.",
        "- The training data is only as good as the model that wrote the critiques and revisions. A weak",
        "  or small critic writes poor critiques, and fine-tuning on its revisions can make a model worse.",
        "- SL-CAI alone is the first stage of Constitutional AI; the paper follows it with RL from AI",
        "  feedback. Nothing here was evaluated: measure harmlessness and helpfulness before use.",
    ]
    if facts.random_base:
        lines += [
            "- The base model is a random caic test model: it cannot follow a critique request, so every",
            "  critique and revision is noise and a few training steps teach it nothing about the",
            "  constitution. It shows that generation, data writing, fine-tuning and saving work end to end.",
        ]
    return "\n".join(lines) + "\n"
