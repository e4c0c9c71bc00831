"""Hover text: what the name under the cursor means, in Markdown.

A principle shows its wording (description, critique, revision, compare,
applies-when) and, for every deployment, its effective weight and priority
tier, taken from the same `resolve_deployment` and `PriorityGraph.tiers`
the compiler uses (tier 0 outranks tier 1). A rule shows its verdict and
condition and its tier per deployment; a context variable its type; an
enum value its place in the order; an action its wording; a deployment its
`extends` chain and what it changes; an imported module its file. Actions
and rules also show, per deployment, who can change the verdict on the
action (language 1.2: `nobody`, `operator`, or `user` through which `by
user` variables), from the checker's own `who_can_change`; a context
variable shows its description and who sets it.
"""

from __future__ import annotations

from cai_lang.ir.model import Constitution, PrincipleDef, RuleDef
from cai_lang.ir.order import PriorityGraph
from cai_lang.ir.program import Program
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.lsp.index import Target, all_items
from cai_lang.syntax.printer import print_condition


def _number(value: float) -> str:
    return str(value)


def deployment_rows(constitution: Constitution, item_id: str) -> list[tuple[str, str, str]]:
    """(deployment, effective weight, tier) of one principle or rule in every deployment."""
    rows = []
    for name in constitution.deployments:
        try:
            resolved = resolve_deployment(constitution, name)
        except KeyError:  # an `extends` cycle, already reported
            continue
        enabled = resolved.enabled_ids()
        if item_id not in enabled:
            state = "disabled" if item_id in resolved.disabled else "not part of it"
            rows.append((name, state, "–"))
            continue
        tier = PriorityGraph(resolved.priorities).tiers(enabled).get(item_id)
        weight = resolved.weights.get(item_id)
        rows.append((name, _number(weight) if weight is not None else "–", str(tier) if tier is not None else "–"))
    return rows


def _table(rows: list[tuple[str, str, str]], with_weight: bool) -> str:
    if with_weight:
        lines = ["| deployment | weight | tier |", "|---|---|---|"]
        lines += [f"| `{name}` | {weight} | {tier} |" for name, weight, tier in rows]
    else:
        lines = ["| deployment | tier |", "|---|---|"]
        lines += [f"| `{name}` | {tier if weight not in ('disabled', 'not part of it') else weight} |" for name, weight, tier in rows]
    return "\n".join(lines)


def _origin(item: PrincipleDef | RuleDef) -> str:
    return f" (added by deployment `{item.origin}`)" if item.origin != "default" else ""


def _principle(item: PrincipleDef, constitution: Constitution) -> str:
    node = item.node
    parts = [f"**principle** `{item.id}`{_origin(item)}"]
    if node.description is not None:
        parts.append(node.description.value)
    wording = [f"- **{field}:** {getattr(node, field).value}" for field in ("critique", "revision", "compare") if getattr(node, field) is not None]
    if node.applies is not None:
        wording.append(f"- **applies when** `{print_condition(node.applies)}`")
    if node.tags:
        wording.append("- **tags:** " + ", ".join(f"`{t.value}`" for t in node.tags))
    if wording:
        parts.append("\n".join(wording))
    parts.append(_table(deployment_rows(constitution, item.id), with_weight=True))
    return "\n\n".join(parts)


def _rule(item: RuleDef, constitution: Constitution) -> str:
    node = item.node
    parts = [f"**{'hard rule' if node.hard else 'rule'}** `{item.id}`{_origin(item)}"]
    if node.verdict is not None and node.action is not None:
        verdict = f"{node.verdict} {node.action}"
        if node.guard is not None and node.condition is not None:
            verdict += f" {node.guard} {print_condition(node.condition)}"
        parts.append(f"`{verdict}`")
        action = constitution.actions.get(item.action or "")
        if action is not None:
            parts.append(f"*{action.id}*: {action.text}")
    if node.detect is not None:
        parts.append(f"detect regex `{node.detect.value}`")
    parts.append(_table(deployment_rows(constitution, item.id), with_weight=False))
    if item.action is not None:
        parts.append(authority_table(constitution, item.action))
    return "\n\n".join(parts)


def authority_table(constitution: Constitution, action: str) -> str:
    """Who can change the verdict on `action`, per deployment (by the solver)."""
    from cai_lang.check.authority import who_can_change

    lines = [f"who can change the verdict on `{action}`:", "", "| deployment | who | through |", "|---|---|---|"]
    for name in constitution.deployments:
        try:
            resolved = resolve_deployment(constitution, name)
        except KeyError:  # an `extends` cycle, already reported
            continue
        answer = who_can_change(resolved, action)
        through = ", ".join(f"`{v}`" for v in answer["variables"]) or "–"
        lines.append(f"| `{name}` | {answer['who']} | {through} |")
    return "\n".join(lines)


def _deployment(name: str, constitution: Constitution) -> str:
    chain = [d.name for d in constitution.chain(name)]
    parts = [f"**deployment** `{name}`", "extends: " + " → ".join(f"`{n}`" for n in chain)]
    deployment = constitution.deployments.get(name)
    if deployment is not None:
        facts = [f"- assume `{print_condition(c)}`" for c in deployment.assumptions]
        facts += [f"- weight `{target}` {_number(weight)}" for target, weight in deployment.weights.items()]
        facts += [f"- disable `{target}`" for target in deployment.disabled]
        facts += [f"- enable `{target}`" for target in deployment.enabled]
        facts += [f"- adds `{item.id}`" for item in (*deployment.principles, *deployment.rules)]
        if facts:
            parts.append("\n".join(facts))
    return "\n\n".join(parts)


def hover_markdown(target: Target, program: Program, constitution: Constitution | None) -> str | None:
    """Markdown for what `target` refers to, or None when nothing is known about it."""
    if target.kind == "module":
        source = program.sources.get(target.key)
        module = program.modules.get(target.key)
        if source is None or module is None:
            return None
        text = f"**module** `{source.display}`"
        if module.header is not None and module.header.description is not None:
            text += f"\n\n{module.header.description.value}"
        return text
    if constitution is None:
        return None
    if target.kind == "item":
        item = all_items(constitution).get(target.key)
        if isinstance(item, PrincipleDef):
            return _principle(item, constitution)
        if isinstance(item, RuleDef):
            return _rule(item, constitution)
        return None
    if target.kind == "action":
        action = constitution.actions.get(target.key)
        if action is None:
            return None
        users = sorted(r.id for r in constitution.rules.values() if r.action == action.id)
        text = f"**action** `{action.id}`\n\n{action.text}"
        text += "\n\nused by " + ", ".join(f"`{u}`" for u in users) if users else ""
        return text + "\n\n" + authority_table(constitution, action.id)
    if target.kind in ("variable", "value"):
        variable = constitution.context.get(target.key)
        if variable is None:
            return None
        if target.kind == "variable":
            text = f"**context variable** `{variable.name}`: {variable.describe()}, set by the {variable.set_by}"
            return text + (f"\n\n{variable.description}" if variable.description else "")
        if target.value not in variable.values:
            return None
        place = variable.values.index(target.value) + 1
        return f"**value** `{target.value}` of `{variable.name}`, {place} of {len(variable.values)} in order: {' < '.join(variable.values)}"
    if target.kind == "deployment":
        if target.key not in constitution.deployments:
            return None
        return _deployment(target.key, constitution)
    return None
