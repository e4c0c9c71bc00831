"""The constitution section every report ends with: identity, content hash, items by tier, conflicts, constitution.md.

It comes last on the page because a reader first wants to know whether the
run worked; it is there in full because the content hash alone does not tell
a reviewer which principles and wording shaped the data.
"""

from __future__ import annotations

from pathlib import Path

from cai_lang.report.page import Section


def load_bundle_quietly(path: Path | None):
    """The bundle at `path`, or None if it is missing or does not load."""
    if path is None or not Path(path).exists():
        return None
    from cai_lang.codegen.bundle import BundleError, load_bundle

    try:
        return load_bundle(path)
    except BundleError:
        return None


def constitution_section(section: Section, bundle, bundle_path: Path | None = None) -> None:
    info = bundle.constitution
    section.table(
        ["field", "value"],
        [
            ["constitution", info.name],
            ["version", info.version],
            ["description", info.description],
            ["deployment", bundle.deployment.name],
            ["content_hash", bundle.content_hash],
            ["compiler", bundle.compiler_version],
        ],
    )
    rows = []
    for entry in sorted((*bundle.principles, *bundle.rules), key=lambda e: (e.tier, -e.weight, e.id)):
        is_rule = hasattr(entry, "verdict")
        text = entry.statement if is_rule else (entry.description or entry.wording.comparison_question or entry.wording.critique_request)
        rows.append([entry.id, "rule" if is_rule else "principle", entry.tier, entry.weight, ", ".join(entry.phases), entry.applies.text, getattr(entry, "detect", None) or "", text])
    section.table(["id", "kind", "tier", "weight", "phases", "applies", "detect", "what it asks"], rows)
    if bundle.conflicts:
        section.table(["conflict", "resolution"], [[f"{c.left} vs {c.right}", c.resolution] for c in bundle.conflicts])
    if bundle_path is not None:
        markdown = Path(bundle_path).parent / "constitution.md"
        if markdown.is_file():
            section.preformatted(markdown.read_text(encoding="utf-8"), summary="constitution.md, as the trainer read it")
