"""Rendering `caic test` results: text, the JSON of section 7, JUnit XML, and
GitHub workflow annotations; plus the coverage block of `--coverage`."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from cai_lang.diagnostics.github import annotation
from cai_lang.review.tests import Coverage, TestResult


def show_witness(values: dict | None) -> str:
    if not values:
        return "(any context)"
    return ", ".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items())


def summary(results: list[TestResult]) -> dict[str, int]:
    passed = sum(r.passed for r in results)
    unjudged = sum(r.status == "not judged" for r in results)
    counts = {"passed": passed, "failed": len(results) - passed - unjudged}
    return {**counts, "not_judged": unjudged} if unjudged else counts


def _counts(results: list[TestResult]) -> str:
    counts = summary(results)
    text = f"{counts['passed']} passed, {counts['failed']} failed"
    return text + (f", {counts['not_judged']} not judged" if counts.get("not_judged") else "")


def render_text(results: list[TestResult], coverage: dict[str, Coverage] | None = None) -> str:
    out = []
    for r in results:
        note = "  (empty region: proves nothing, W308)" if r.vacuous else ""
        out.append(f"{r.status.upper()} {r.name}  {r.file}:{r.line}  [{r.deployment}]{note}")
        for f in r.not_judged:
            out.append(f"    {r.file}:{f.line}: {f.expectation}")
            out.append(f"      {f.message}")
        for f in r.failures:
            out.append(f"    {r.file}:{f.line}: {f.expectation}")
            if f.witness is not None:
                out.append(f"      witness: {show_witness(f.witness)}")
            if f.witness_other is not None:
                out.append(f"      against: {show_witness(f.witness_other)}")
            out.append(f"      why: {f.message}")
    if coverage:
        out.extend(_coverage_text(coverage))
    out.append(_counts(results))
    return "\n".join(out) + "\n"


def _coverage_text(coverage: dict[str, Coverage]) -> list[str]:
    out = []
    for name, cov in coverage.items():
        out.append(f"coverage of deployment `{name}`: {cov.share():.0%} reached")
        never = set(cov.never_applies())
        for kind, missing in cov.unreached().items():
            label = {"rules": "rules", "principles": "principles", "clauses": "conflict clauses"}[kind]
            if missing:
                out.append(f"    {label} no expectation reached: " + "; ".join(f"{m} (can never apply here)" if m in never else m for m in missing))
    return out


def coverage_json(coverage: dict[str, Coverage]) -> dict:
    return {name: {"reached": round(cov.share(), 4), "unreached": cov.unreached(), "never_applies": cov.never_applies()} for name, cov in coverage.items()}


def render_json(results: list[TestResult], coverage: dict[str, Coverage] | None = None) -> str:
    tests = [
        {
            "name": r.name,
            "file": r.file,
            "line": r.line,
            "deployment": r.deployment,
            "status": r.status,
            "vacuous": r.vacuous,
            "not_judged": [{"line": f.line, "expectation": f.expectation, "message": f.message} for f in r.not_judged],
            "failures": [{"line": f.line, "expectation": f.expectation, "message": f.message, "witness": f.witness, **({"witness_other": f.witness_other} if f.witness_other is not None else {})} for f in r.failures],
        }
        for r in results
    ]
    data: dict = {"tests": tests, "summary": summary(results)}
    if coverage is not None:
        data["coverage"] = coverage_json(coverage)
    return json.dumps(data, indent=2)


def render_junit(results: list[TestResult]) -> str:
    counts = summary(results)
    root = ET.Element("testsuites", name="caic test", tests=str(len(results)), failures=str(counts["failed"]))
    by_file: dict[str, list[TestResult]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    for file, members in by_file.items():
        failed = sum(not r.passed for r in members)
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(members)), failures=str(failed))
        for r in members:
            case = ET.SubElement(suite, "testcase", name=r.name, classname=f"{file}.{r.deployment}", file=file, line=str(r.line))
            for f in r.not_judged:
                ET.SubElement(case, "error", message=f"{f.expectation}: {f.message}").text = f"{file}:{f.line}: {f.expectation}\n{f.message}"
            for f in r.failures:
                failure = ET.SubElement(case, "failure", message=f"{f.expectation}: {f.message}")
                failure.text = f"{file}:{f.line}: {f.expectation}\nwitness: {show_witness(f.witness)}\nwhy: {f.message}"
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def render_github(results: list[TestResult]) -> str:
    lines = []
    for r in results:
        for f in r.not_judged:
            lines.append(annotation("error", f"test `{r.name}`: {f.expectation}: {f.message}", file=r.file, line=f.line, title=f"caic test {r.name}"))
        for f in r.failures:
            message = f"test `{r.name}` failed: {f.expectation}: {f.message}"
            if f.witness is not None:
                message += f" [witness: {show_witness(f.witness)}]"
            lines.append(annotation("error", message, file=r.file, line=f.line, title=f"caic test {r.name}"))
    lines.append(annotation("notice", _counts(results), title="caic test"))
    return "\n".join(lines) + "\n"
