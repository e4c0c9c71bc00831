"""Model cards and training logs for every model caic trains: the SL-CAI model, the preference model, the policy.

A card is the `README.md` saved beside a model: the Hub's metadata header
(`huggingface_hub.ModelCardData`: library, `base_model` (a Hub id, or the one
a local base model's own card names), `datasets` (Hub prompt sets), `tags`,
`license`), a usage snippet, the constitution's principles and rules, then
the constitution and deployment the
model was trained towards with the bundle's `content_hash` (the one fact that
pins down exactly which principles and wording shaped the data), the data it
saw, how it was trained, its metrics, and what it can and cannot show. When
the base model is one of caic's random test models the card says, first and
plainly, that the result is noise. `caic_training.json` holds the same facts
for machines, and `training_log.json` the trainer's log history (what a
report plots). One writer serves all three kinds of model, so the cards
cannot drift apart. Nothing here imports torch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cai_lang.files import write_atomic

RANDOM_MODEL_TAG = "random-weights"
CARD_FILE = "README.md"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
METADATA_FILE = "caic_training.json"
TRAIN_LOG = "training_log.json"

# What each kind of model is, in the card's words; the keys are run.json's output kinds.
KINDS: dict[str, dict[str, Any]] = {
    "sft_model": {
        "title": "SL-CAI fine-tune",
        "tags": ["sl-cai", "sft"],
        "intro": [
            "Fine-tuned with supervised learning on responses revised by critique → revision rounds against a",
            "constitution compiled by caic (the SL stage of Constitutional AI, Bai et al. 2022).",
        ],
        "limits": [
            "- The training data is only as good as the model that wrote the critiques and revisions. A weak",
            "  or small critic writes poor critiques, and fine-tuning on its revisions can make a model worse.",
            "- SL-CAI alone is the first stage of Constitutional AI; the paper follows it with RL from AI",
            "  feedback. Nothing here was evaluated: measure harmlessness and helpfulness before use.",
        ],
        "random": [
            "- The base model is a random caic test model: it cannot follow a critique request, so every",
            "  critique and revision is noise and a few training steps teach it nothing about the",
            "  constitution. It shows that generation, data writing, fine-tuning and saving work end to end.",
        ],
    },
    "preference_model": {
        "title": "RL-CAI preference model",
        "tags": ["rlaif", "reward-model"],
        "intro": [
            "A preference (reward) model: `AutoModelForSequenceClassification` with one output, the reward of a",
            "whole conversation. Trained on pairs of the policy's responses labelled by a feedback model asked",
            "the constitution's comparison questions (RL from AI feedback, Bai et al. 2022), with soft labels.",
        ],
        "limits": [
            "- The labels are the feedback model's judgement of the constitution's questions, not the",
            "  constitution's: a feedback model that cannot answer them gives labels near 0.5 or biased ones.",
            "- Held-out pairwise accuracy measures agreement with those labels on a few pairs, nothing more.",
        ],
        "random": [
            "- The base and feedback models are random caic test models: the labels are noise around 0.5 and",
            "  the rewards mean nothing. It shows that labelling, training and saving work end to end.",
        ],
    },
    "policy": {
        "title": "RL-CAI policy",
        "tags": ["rlaif"],
        "intro": [
            "A policy optimised against AI preferences derived from a constitution compiled by caic (the RL",
            "stage of Constitutional AI, Bai et al. 2022).",
        ],
        "limits": [
            "- The policy learns what the preference data rewards; where the feedback model misjudges the",
            "  constitution, so does the policy. Nothing here was evaluated: measure harmlessness and",
            "  helpfulness (and evasiveness) before use.",
        ],
        "random": [
            "- The base model is a random caic test model and the preferences are noise: a few steps change",
            "  nothing that matters. It shows that optimisation and saving work end to end.",
        ],
    },
}


def is_random_test_model(model: str | Path) -> bool:
    """Whether `model` is a folder holding one of caic's random tiny models, or a model trained from one (by its card's tag)."""
    card = Path(model) / CARD_FILE
    try:
        return RANDOM_MODEL_TAG in card.read_text(encoding="utf-8")
    except OSError:
        return False


@dataclass(frozen=True)
class Provenance:
    """Which compiled constitution a model was trained towards, and the run folder that holds the record."""

    constitution: str
    constitution_version: str | None
    deployment: str
    content_hash: str
    run_dir: str | None = None

    @classmethod
    def of_bundle(cls, bundle: Any, run_dir: str | Path | None = None) -> "Provenance":
        return cls(
            constitution=bundle.constitution.name,
            constitution_version=bundle.constitution.version,
            deployment=bundle.deployment.name,
            content_hash=bundle.content_hash,
            run_dir=str(run_dir) if run_dir is not None else None,
        )


@dataclass
class CardFacts:
    """What a model card states; every field is shown as given."""

    provenance: Provenance
    kind: str
    base_model: str
    method: str
    data: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    random_base: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model kind is one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.random_base is None:
            self.random_base = is_random_test_model(self.base_model)

    def metadata(self) -> dict[str, Any]:
        p = self.provenance
        return {
            "kind": self.kind,
            "method": self.method,
            "content_hash": p.content_hash,
            "constitution": p.constitution,
            "constitution_version": p.constitution_version,
            "deployment": p.deployment,
            "base_model": self.base_model,
            "random_base": self.random_base,
            "run_dir": p.run_dir,
            "data": dict(self.data),
            "training": dict(self.training),
            "metrics": dict(self.metrics),
        }


def _front_matter(folder: Path) -> dict[str, Any]:
    """The YAML metadata of a local model's card (empty when it has none or is not a folder)."""
    try:
        from huggingface_hub import ModelCard

        return ModelCard.load(folder / CARD_FILE, ignore_metadata_errors=True).data.to_dict()
    except Exception:  # noqa: BLE001 - a missing or unreadable card has no metadata; nothing else depends on it
        return {}


def hub_lineage(base_model: str) -> tuple[str | None, str | None]:
    """(Hub `base_model`, `license`) of a model: a Hub id is its own base; a local folder inherits its card's."""
    folder = Path(base_model)
    if not folder.exists():
        return (None if base_model.startswith(("http://", "https://")) else base_model), None
    meta = _front_matter(folder)
    base = meta.get("base_model")
    return (base[0] if isinstance(base, list) and base else base if isinstance(base, str) else None), meta.get("license")


def _hub_datasets(run_dir: str | None) -> list[str]:
    """Hub dataset ids among the run's prompt sources (shipped sets and local files are not Hub datasets)."""
    if not run_dir:
        return []
    try:
        record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    from cai_lang.train.run.prompts import SHIPPED

    found = []
    for step in ("sl_generation", "rl_generation"):
        prompts = (record.get(step) or {}).get("prompts") or {}
        for source in [*(prompts.get("sources") or ()), prompts.get("helpful")]:
            if isinstance(source, str) and _HUB_ID.fullmatch(source) and source not in SHIPPED and not Path(source).exists():
                found.append(source)
    return list(dict.fromkeys(found))


def _principles(run_dir: str | None) -> list[str]:
    """The constitution's items as table rows, from the bundle the run recorded (none when it cannot be read)."""
    if not run_dir:
        return []
    try:
        record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
        from cai_lang.codegen.bundle import load_bundle

        bundle = load_bundle(Path(run_dir) / record["outputs"]["bundle"]["path"])
    except Exception:  # noqa: BLE001 - the card still names the content hash, which pins the bundle down
        return []
    rows = ["| id | kind | tier | weight | what it asks |", "|---|---|---|---|---|"]
    for entry in sorted((*bundle.principles, *bundle.rules), key=lambda e: (e.tier, -e.weight, e.id)):
        is_rule = hasattr(entry, "verdict")
        text = entry.statement if is_rule else (entry.description or entry.wording.comparison_question or entry.wording.critique_request)
        cell = " ".join(str(text or "").split()).replace("|", "\\|")
        rows.append(f"| `{entry.id}` | {'rule' if is_rule else 'principle'} | {entry.tier} | {entry.weight:g} | {cell} |")
    return rows


def _usage(kind: str, where: str) -> list[str]:
    if kind == "preference_model":
        return [
            "```python", "import torch", "from transformers import AutoModelForSequenceClassification, AutoTokenizer", "",
            f'tokenizer = AutoTokenizer.from_pretrained("{where}")',
            f'model = AutoModelForSequenceClassification.from_pretrained("{where}")',
            'chat = [{"role": "user", "content": "How do I treat a minor burn?"}, {"role": "assistant", "content": "Cool it under running water..."}]',
            "inputs = tokenizer.apply_chat_template(chat, return_tensors=\"pt\", return_dict=True)",
            "with torch.no_grad():", "    reward = model(**inputs).logits[0, 0].item()  # higher: preferred by the constitution's judge", "```",
        ]
    return [
        "```python", "from transformers import pipeline", "",
        f'chat = pipeline("text-generation", model="{where}")',
        'reply = chat([{"role": "user", "content": "How do I treat a minor burn?"}], max_new_tokens=128)',
        'print(reply[0]["generated_text"][-1]["content"])', "```",
    ]


def model_card(facts: CardFacts, where: str | None = None) -> str:
    """The README.md of a model caic trained; `where` is how the usage snippet loads it (a Hub repo or a folder)."""
    from huggingface_hub import ModelCardData

    kind = KINDS[facts.kind]
    p = facts.provenance
    tags = ["caic", "constitutional-ai", *kind["tags"], "trl"]
    method_tag = facts.method.split()[0].lower()
    if method_tag not in tags:
        tags.append(method_tag)
    if facts.random_base:
        tags.append(RANDOM_MODEL_TAG)
    base, license_ = hub_lineage(facts.base_model)
    if facts.random_base and license_ is None:
        license_ = "apache-2.0"  # caic built the random base model; it carries caic's licence
    data = ModelCardData(
        library_name="transformers", base_model=base, datasets=_hub_datasets(p.run_dir) or None, tags=tags,
        license=license_ or "other", license_name=None if license_ else "same-as-base-model",
        pipeline_tag="text-classification" if facts.kind == "preference_model" else "text-generation",
    )
    if base:
        data.base_model_relation = "finetune"
    version = f" {p.constitution_version}" if p.constitution_version else ""
    lines = ["---", data.to_yaml(), "---", "", f"# {p.constitution}{version} / {p.deployment}: {kind['title']} of {Path(facts.base_model).name}", ""]
    if facts.random_base:
        lines += ["**The base model has random weights. This model's text is noise. It proves the pipeline ran, not alignment.**", ""]
    lines += [*kind["intro"], "", "| | |", "|---|---|"]
    lines += [
        f"| constitution | `{p.constitution}`{' version ' + p.constitution_version if p.constitution_version else ''} |",
        f"| deployment | `{p.deployment}` |",
        f"| bundle content_hash | `{p.content_hash}` |",
        f"| base model | `{facts.base_model}` |",
        f"| kind | {facts.kind.replace('_', ' ')} |",
        f"| method | {facts.method} |",
    ]
    if p.run_dir:
        lines.append(f"| run folder | `{p.run_dir}` (see its `run.json`) |")
    lines += ["", "## Usage", "", *_usage(facts.kind, where or "PATH/TO/THIS/FOLDER")]
    principles = _principles(p.run_dir)
    if principles:
        lines += ["", "## The constitution it was trained towards", "", f"Deployment `{p.deployment}`, tier 0 first (a lower tier outranks a higher one):", "", *principles]
    for title, values in (("Data", facts.data), ("Training", facts.training), ("Metrics", facts.metrics)):
        if values:
            lines += ["", f"## {title}", ""]
            lines += [f"- {key.replace('_', ' ')}: {_shown(value)}" for key, value in values.items()]
    lines += [
        "",
        "## What this model can and cannot show",
        "",
        "- The `content_hash` identifies the exact compiled constitution (principles, weights, wording,",
        "  templates) that produced the training data; the same hash means the same bundle, and caic",
        "  refuses to mix data made under different hashes.",
        *kind["limits"],
    ]
    if facts.random_base:
        lines += kind["random"]
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_model_card(folder: str | Path, facts: CardFacts, where: str | None = None) -> Path:
    """Write `README.md` and `caic_training.json` into a saved model's folder; returns the card's path."""
    folder = Path(folder)
    write_atomic(folder / METADATA_FILE, json.dumps(facts.metadata(), indent=2, default=str) + "\n")
    path = folder / CARD_FILE
    write_atomic(path, model_card(facts, where or str(folder)))
    return path


def write_training_log(folder: str | Path, log_history: list[Mapping[str, Any]], **extra: Any) -> Path:
    """`training_log.json` beside a model: the trainer's `log_history` (one entry per logging step, then
    a summary) and whatever else describes the run, in one stable place for reports."""
    path = Path(folder) / TRAIN_LOG
    write_atomic(path, json.dumps({"log_history": list(log_history), **extra}, indent=2, default=str) + "\n")
    return path
