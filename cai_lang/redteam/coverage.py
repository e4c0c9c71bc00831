"""`caic coverage`: which regions, rules, principles, conflict clauses and deployments a prompt set reaches.

A prompt *reaches* a region when its context labels put it there for sure:
the labels (those the schema accepts; others count as unlabelled, as in
training) agree with some context of the deployment, and every such
context lies in the region. A prompt that leaves a variable the region
depends on unlabelled may or may not be there, so it does not count: the
report is a lower bound, exact for fully labelled prompts (as `caic
redteam` writes them, with the witness context as labels). A rule,
principle, conflict clause or deployment is reached when its region is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from cai_lang.redteam.regions import RegionMap

ITEM_KINDS = {"rule": "rules", "principle": "principles", "clause": "conflict clauses", "deployment": "deployments"}


@dataclass
class CoverageReport:
    regions: RegionMap
    counts: dict[str, int]  # region id -> prompts that reach it
    prompts: int
    sources: list[str] = field(default_factory=list)

    def below(self, minimum: int) -> list[str]:
        return [r.id for r in self.regions.regions if self.counts[r.id] < minimum]

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind, name in [*ITEM_KINDS.items(), ("*", "regions")]:
            chosen = [r for r in self.regions.regions if kind in ("*", r.kind)]
            out[name] = {"reached": sum(1 for r in chosen if self.counts[r.id] > 0), "total": len(chosen)}
        return out

    def to_json(self, minimum: int | None = None) -> dict:
        return {
            "constitution": self.regions.constitution,
            "deployment": self.regions.deployment,
            "content_hash": self.regions.content_hash,
            "prompts": self.prompts,
            "sources": self.sources,
            "summary": self.summary(),
            "regions": [{**r.to_dict(), "prompts": self.counts[r.id]} for r in self.regions.regions],
            "empty_regions": [r.id for r in self.regions.empty],
            "unreached": [r.id for r in self.regions.regions if self.counts[r.id] == 0],
            **({"min": minimum, "below_min": self.below(minimum)} if minimum is not None else {}),
        }


def measure(regions: RegionMap, labels: Iterable[Mapping], sources: Sequence[str] = ()) -> CoverageReport:
    """How many of the prompts (given by their context labels) reach each region."""
    counts = {r.id: 0 for r in regions.regions}
    cache: dict[tuple, list[str]] = {}
    total = 0
    for context in labels:
        total += 1
        key = tuple(sorted((k, v) for k, v in context.items() if isinstance(v, (bool, str))))
        if key not in cache:
            cache[key] = _reached(regions, dict(key))
        for region_id in cache[key]:
            counts[region_id] += 1
    return CoverageReport(regions, counts, total, list(sources))


def _reached(regions: RegionMap, labels: Mapping) -> list[str]:
    from cai_lang.redteam.regions import accepted, fix_label

    solver = regions.view.solver
    fixed = [fix_label(solver.encoder, regions.context, k, v) for k, v in labels.items() if accepted(regions.context.get(k), v)]
    if not solver.satisfiable(*fixed):
        return []  # the labels contradict the deployment's assumptions: the prompt is not for this deployment
    return [r.id for r in regions.regions if regions.entails(r, labels)]


def render_text(report: CoverageReport, minimum: int | None = None) -> str:
    lines = [
        f"coverage of `{report.regions.constitution}` (deployment {report.regions.deployment}) by {report.prompts} prompts"
        + (f" from {', '.join(report.sources)}" if report.sources else ""),
    ]
    for name, entry in report.summary().items():
        share = 100 * entry["reached"] / entry["total"] if entry["total"] else 100.0
        lines.append(f"  {name:17} {entry['reached']:>3} of {entry['total']:<3} reached ({share:.0f}%)")
    lines.append("")
    width = max((len(r.id) for r in report.regions.regions), default=10)
    for region in report.regions.regions:
        lines.append(f"  {region.id:<{width}}  {report.counts[region.id]:>5}")
    unreached = [r for r in report.regions.regions if report.counts[r.id] == 0]
    if unreached:
        lines.append("")
        lines.append(f"never reached ({len(unreached)}), each with a context that would reach it:")
        for region in unreached:
            lines.append(f"  {region.id}: {region.description}")
            lines.append(f"    witness: {_witness(region.witness)}")
    for region in report.regions.empty:
        lines.append(f"  (empty, no context can reach it: {region.id})")
    if minimum is not None:
        below = report.below(minimum)
        lines.append("")
        lines.append(f"--min {minimum}: " + (f"{len(below)} region(s) below: {', '.join(below)}" if below else "every region has enough prompts"))
    return "\n".join(lines) + "\n"


def _witness(values: Mapping | None) -> str:
    if values is None:
        return "none"
    return ", ".join(f"{k} = {json.dumps(v)}" if isinstance(v, bool) else f"{k} = {v}" for k, v in values.items())


def render_markdown(report: CoverageReport) -> str:
    """A report section: one table row per region kind and the regions never reached."""
    lines = [f"### Coverage of `{report.regions.constitution}` ({report.regions.deployment}) by {report.prompts} prompts", "",
             "| what | reached | total |", "|---|---:|---:|"]
    for name, entry in report.summary().items():
        lines.append(f"| {name} | {entry['reached']} | {entry['total']} |")
    unreached = [r for r in report.regions.regions if report.counts[r.id] == 0]
    if unreached:
        lines += ["", "Never reached: " + ", ".join(f"`{r.id}`" for r in unreached)]
    return "\n".join(lines) + "\n"
