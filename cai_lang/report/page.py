"""The report page: sections of typed blocks, rendered by one Jinja2 template into one self-contained HTML file.

Builders (the training report in `cai_lang.report.html`, the evaluation
report in `cai_lang.report.evaluation`) fill a `ReportPage` with sections in
the order a reader needs them (summary, samples, curves, details, the
constitution); the page renders them through the package's
`templates/report.html.j2`. The template is autoescaped and every value is
passed as data, so text from a constitution, a prompt or a model's output is
shown as text and never interpreted as markup or template code. Plots are
embedded as `data:` URIs, so the page needs nothing beside it. This module
also decides whether a run's model is one of caic's random test models (or
small enough that its text cannot mean anything), which the page states
before any number.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPLATE = "report.html.j2"
# Below this many parameters a causal LM cannot follow a critique request; its text is noise.
SMALL_MODEL_PARAMETERS = 20_000_000


def fmt(value: Any) -> str:
    """A table cell: floats to four significant digits, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def percent(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{100 * value:.1f}%"


def embed_png(path: Path) -> str:
    """A `data:` URI of a PNG file, so the page needs nothing beside it."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass
class Section:
    """One `<section>`: a heading and its blocks, each a dict the template switches on by `kind`."""

    heading: str
    anchor: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def paragraph(self, text: str, css: str | None = None) -> None:
        self.blocks.append({"kind": "paragraph", "text": text, "css": css})

    def note(self, text: str) -> None:
        self.paragraph(text, "note")

    def cards(self, cards: Iterable[tuple[str, Any, str] | tuple[str, Any, str, str]]) -> None:
        """Key numbers: (label, value, what it means[, tone 'good'|'bad'])."""
        shown = []
        for card in cards:
            label, value, meaning, *tone = card
            shown.append({"label": label, "value": value if isinstance(value, str) else fmt(value), "meaning": meaning, "tone": tone[0] if tone else None})
        if shown:
            self.blocks.append({"kind": "cards", "cards": shown})

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        cells = [
            [{"text": fmt(v), "numeric": isinstance(v, (int, float)) and not isinstance(v, bool)} for v in row] for row in rows
        ]
        self.blocks.append({"kind": "table", "headers": [str(h) for h in headers], "rows": cells})

    def sample(self, title: str, steps: Sequence[tuple[str, Any]], footer: str | None = None) -> None:
        """One worked example: (role, text) steps shown in order, e.g. prompt → response → critique → revision."""
        self.blocks.append({"kind": "sample", "title": title, "steps": [{"role": r, "text": fmt(t)} for r, t in steps], "footer": footer})

    def figure(self, png: Path, caption: str) -> None:
        self.blocks.append({"kind": "figure", "src": embed_png(png), "caption": caption})

    def preformatted(self, text: str, summary: str | None = None) -> None:
        self.blocks.append({"kind": "pre", "text": text, "summary": summary})


@dataclass
class ReportPage:
    """A report: title, what ran, notices shown before everything, then sections in order."""

    title: str
    subtitle: str = ""
    notices: list[dict[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def notice(self, title: str, text: str) -> None:
        self.notices.append({"title": title, "text": text})

    def section(self, heading: str) -> Section:
        taken = {s.anchor for s in self.sections}
        anchor, n = _anchor(heading), 2
        while anchor in taken:
            anchor, n = f"{_anchor(heading)}-{n}", n + 1
        section = Section(heading, anchor)
        self.sections.append(section)
        return section

    def render(self) -> str:
        from jinja2 import Environment, PackageLoader, StrictUndefined

        from cai_lang import __version__

        env = Environment(loader=PackageLoader("cai_lang.report", "templates"), autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        page = {"title": self.title, "subtitle": self.subtitle, "notices": self.notices, "version": __version__,
                "sections": [s for s in self.sections if s.blocks]}
        return env.get_template(TEMPLATE).render(page=page)

    def write(self, path: Path) -> Path:
        from cai_lang.train.run.folder import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self.render())
        return path


# ---------------------------------------------------------------- is the model a toy?


def _parameters_from_config(folder: Path) -> int | None:
    """A causal LM's parameter count estimated from its config.json (embeddings + layers), or None."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = config.get("text_config", config) if isinstance(config, dict) else {}
    hidden, layers, vocab = (config.get(k) for k in ("hidden_size", "num_hidden_layers", "vocab_size"))
    if not all(isinstance(v, int) and v > 0 for v in (hidden, layers, vocab)):
        return None
    inner = config.get("intermediate_size") if isinstance(config.get("intermediate_size"), int) else 4 * hidden
    return vocab * hidden + layers * (4 * hidden * hidden + 3 * hidden * inner)


def toy_model_notice(models: Iterable[str | Path]) -> str | None:
    """Why the run's text cannot mean anything, when a model is a caic random test model or tiny; else None."""
    from cai_lang.train.modelcard import is_random_test_model

    for model in dict.fromkeys(str(m) for m in models if m):
        folder = Path(model)
        if not folder.is_dir():
            continue
        if is_random_test_model(folder):
            return (f"{model} is a random test model built by `caic tiny-model` (or trained from one). Its text is noise: "
                    "this report shows that the pipeline ran end to end, not that the model learned the constitution.")
        params = _parameters_from_config(folder)
        if params is not None and params < SMALL_MODEL_PARAMETERS:
            return (f"{model} has about {params:,} parameters, far too few to follow a critique request: read the numbers "
                    "below as a check that the pipeline ran, not as a measure of alignment.")
    return None
