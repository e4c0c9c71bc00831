"""`constitution.md`: the bundle as a document a reviewer can audit.

It is rendered from the bundle alone, so what the reviewer reads is what
the trainer gets: the deployment and what it changed against its base, the
context, principles in priority order (tier, then weight, then id) with
their wording and few-shot examples, rules in plain words with the
condition under which they are in force, conflicts and how they resolve,
and the content hash that identifies the bundle. User text is quoted as
written; only identifiers and regular expressions are set as code.
"""

from __future__ import annotations

from cai_lang.codegen.bundle import (
    Bundle,
    ComparisonExample,
    Condition,
    Example,
    PrincipleEntry,
    RuleEntry,
    Wording,
)

_PHASE_NAMES = {"sl": "SL (critique and revision)", "rl": "RL (comparison)"}


def code(text: str) -> str:
    """Inline code that survives backticks inside the text."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def quote(text: str) -> list[str]:
    return [f"> {line}" if line else ">" for line in text.splitlines() or [""]]


def _number(value: float) -> str:
    return f"{value:g}"


def _applies(condition: Condition) -> str:
    """Where an item applies in this deployment: the condition's text reads what the deployment leaves open."""
    return {"always": "in every context", "never": "in no context"}.get(condition.text, f"when {condition.text}")


def _wording(lines: list[str], wording: Wording) -> None:
    for label, text in (
        ("Critique request", wording.critique_request),
        ("Revision request", wording.revision_request),
        ("Comparison question", wording.comparison_question),
    ):
        if text is not None:
            lines += [f"{label}:", "", *quote(text), ""]


def _principle(lines: list[str], principle: PrincipleEntry) -> None:
    lines += [f"### {code(principle.id)}", ""]
    if principle.description:
        lines += [principle.description, ""]
    phases = ", ".join(_PHASE_NAMES[p] for p in principle.phases)
    lines.append(f"- Tier {principle.tier}, weight {_number(principle.weight)}")
    lines.append(f"- Applies {_applies(principle.applies)}")
    lines.append(f"- Phases: {phases}")
    if principle.tags:
        lines.append(f"- Tags: {', '.join(principle.tags)}")
    if principle.origin != "default":
        lines.append(f"- Declared by deployment {code(principle.origin)}")
    lines.append("")
    _wording(lines, principle.wording)
    for number, example in enumerate(principle.examples, 1):
        _example(lines, f"Example {number}:", example)
    for number, comparison in enumerate(principle.comparisons, 1):
        _comparison(lines, f"Comparison {number}:", comparison)


def _field(lines: list[str], label: str, text: str | None) -> None:
    if text is not None:
        lines += [f"- {label}:", "", *("  " + line for line in quote(text)), ""]


def _example(lines: list[str], title: str, example: Example) -> None:
    lines += [title, ""]
    _field(lines, "Prompt", example.prompt)
    for turn in example.turns:
        _field(lines, turn.role.capitalize(), turn.content)
    _field(lines, "Response", example.response)
    _field(lines, "Critique request", example.critique_request)
    _field(lines, "Critique", example.critique)
    _field(lines, "Revision request", example.revision_request)
    _field(lines, "Revision", example.revision)


def _comparison(lines: list[str], title: str, comparison: ComparisonExample) -> None:
    lines += [title, ""]
    for turn in comparison.conversation:
        _field(lines, turn.role.capitalize(), turn.content)
    _field(lines, "Question", comparison.question)
    _field(lines, "(A)", comparison.response_a)
    _field(lines, "(B)", comparison.response_b)
    lines += [f"- Preferred: ({comparison.preferred})", ""]
    _field(lines, "Reasoning", comparison.reasoning)


def _rule(lines: list[str], rule: RuleEntry) -> None:
    lines += [f"### {code(rule.id)}", "", f"**{rule.statement}**", ""]
    if rule.hard:
        lines.append("- Hard rule: no deployment and no user may weaken it")
    lines.append(f"- Tier {rule.tier}")
    lines.append(f"- In force {_applies(rule.applies)}")
    if rule.detect is not None:
        lines.append(f"- A response that matches the regular expression {code(rule.detect)} breaks the rule")
    if rule.origin != "default":
        lines.append(f"- Declared by deployment {code(rule.origin)}")
    lines.append("")
    _wording(lines, rule.wording)


def _deployment(lines: list[str], bundle: Bundle) -> None:
    deployment = bundle.deployment
    lines += ["## Deployment", ""]
    if deployment.base is None:
        lines.append(f"{code(deployment.name)} is the base constitution.")
    else:
        chain = " → ".join(code(name) for name in deployment.chain)
        lines.append(f"{code(deployment.name)} extends {code(deployment.base)} ({chain}).")
    lines.append("")
    if deployment.assumptions:
        lines += ["It assumes, in every context:", ""]
        lines += [f"- {a.text}" for a in deployment.assumptions]
        lines.append("")
    changes = deployment.changes
    if changes is None:
        return
    lines += [f"### Changes against {code(deployment.base)}", ""]
    listed = [
        ("Enabled here", ", ".join(code(i) for i in changes.added)),
        ("Disabled here", ", ".join(code(i) for i in changes.removed)),
        ("Reweighted", ", ".join(f"{code(r.id)} {_number(r.before)} → {_number(r.after)}" for r in changes.reweighted)),
        ("New assumptions", "; ".join(a.text for a in changes.assumptions)),
        ("New priorities", "; ".join(" > ".join(code(m) for m in chain) for chain in changes.priorities)),
        ("New conflicts", "; ".join(f"{code(a)} vs {code(b)}" for a, b in changes.conflicts)),
    ]
    shown = [f"- {label}: {value}" for label, value in listed if value]
    lines += shown or ["- Nothing: the deployment only renames its base."]
    lines.append("")


def render_markdown(bundle: Bundle) -> str:
    info = bundle.constitution
    lines = [f"# Constitution {code(info.name)}, deployment {code(bundle.deployment.name)}", ""]
    if info.description:
        lines += [info.description, ""]
    if info.version:
        lines.append(f"- Version: {info.version}")
    lines.append(f"- Content hash: {code(bundle.content_hash)}")
    lines.append(f"- Compiled by caic {bundle.compiler_version} (bundle format {bundle.format})")
    lines.append("")
    _deployment(lines, bundle)

    lines += ["## Context", ""]
    if bundle.context and any(v.description or v.set_by == "user" for v in bundle.context):
        lines += ["| variable | values | meaning | set by |", "|---|---|---|---|"]
        for variable in bundle.context:
            values = "true, false" if variable.kind == "bool" else " < ".join(variable.values)
            meaning = (variable.description or "").replace("|", "\\|")
            lines.append(f"| {code(variable.name)} | {values} | {meaning} | {variable.set_by} |")
    elif bundle.context:
        lines += ["| variable | values |", "|---|---|"]
        for variable in bundle.context:
            values = "true, false" if variable.kind == "bool" else " < ".join(variable.values)
            lines.append(f"| {code(variable.name)} | {values} |")
    else:
        lines.append("No context variables: every principle and rule applies everywhere.")
    lines.append("")

    lines += ["## Priority order", "", "Tier 0 outranks tier 1, and so on; an item no priority ranks below another sits in tier 0.", ""]
    for level, members in enumerate(bundle.priority.tiers):
        lines.append(f"- Tier {level}: {', '.join(code(m) for m in members)}")
    lines.append("")

    if bundle.few_shot.examples or bundle.few_shot.comparisons:
        lines += ["## Shared few-shots", "", "Shown, in this order, before every principle's and rule's own few-shots.", ""]
        for number, example in enumerate(bundle.few_shot.examples, 1):
            _example(lines, f"Shared example {number}:", example)
        for number, comparison in enumerate(bundle.few_shot.comparisons, 1):
            _comparison(lines, f"Shared comparison {number}:", comparison)

    lines += ["## Principles", ""]
    ranked = sorted(bundle.principles, key=lambda p: (p.tier, -p.weight, p.id))
    if not ranked:
        lines += ["None enabled.", ""]
    for principle in ranked:
        _principle(lines, principle)

    lines += ["## Rules", ""]
    if not bundle.rules:
        lines += ["None enabled.", ""]
    for rule in sorted(bundle.rules, key=lambda r: (r.tier, r.id)):
        _rule(lines, rule)

    if bundle.omitted:
        lines += ["## Left out of this deployment", ""]
        lines += [f"- {kind_and_id}" for kind_and_id in (f"{o.kind} {code(o.id)}: {o.note}" for o in bundle.omitted)]
        lines.append("")

    if bundle.permissions:
        lines += [
            "## Who can change each verdict",
            "",
            "`nobody`: hard rules decide it in every context; `operator`: a deployment can (by disabling, reweighting or assuming); "
            "`user`: what the user says can, through the variables listed.",
            "",
            "| action | who can change it | through |",
            "|---|---|---|",
        ]
        for permission in bundle.permissions:
            through = ", ".join(code(v) for v in permission.variables) or "—"
            lines.append(f"| {code(permission.action)} | {permission.who} | {through} |")
        lines.append("")

    lines += ["## Conflicts", ""]
    if not bundle.conflicts:
        lines += ["None declared between enabled items.", ""]
    for conflict in bundle.conflicts:
        lines += [f"### {code(conflict.left)} vs {code(conflict.right)}", "", conflict.resolution, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
