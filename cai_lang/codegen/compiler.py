"""The compiler: a resolved deployment in, a sealed `Bundle` out, and the bundle written to disk.

`build_bundle` turns one `ResolvedDeployment` (and the deployment it
extends, to say what changed) into a bundle: IR conditions become span-free
trees with plain-English text, rules get generated wording, the priority
chains become tiers (`PriorityGraph.tiers`) and ranked pairs, and every list
is sorted so that declaration order, comments, whitespace and spans cannot
reach the content hash. `write_bundle` lays out `NAME/bundle.json`,
`NAME/templates/DIALECT/PHASE.jinja` and `NAME/constitution.md`, always
with the same bytes for the same bundle. The compiler trusts its input to
have been checked without errors; `cai_lang.api.compile_file` sees to that.
"""

from __future__ import annotations

import json
from pathlib import Path

from cai_lang import __version__
from cai_lang.codegen.bundle import (
    BUNDLE_FILE,
    Bundle,
    Changes,
    Clause,
    ComparisonExample,
    Condition,
    ConflictEntry,
    ConstitutionInfo,
    DeploymentInfo,
    Example,
    FewShot,
    Omitted,
    Permission,
    PrincipleEntry,
    PriorityOrder,
    Reweight,
    RuleEntry,
    Turn,
    Wording,
)
from cai_lang.codegen.conditions import TRUE, ContextVariableSpec, left_open
from cai_lang.codegen.templates import (
    TEMPLATE_OPTIONS,
    TEMPLATE_VARIABLES,
    template_entries,
)
from cai_lang.codegen.wording import (
    condition_text,
    early_stop,
    resolution_text,
    rule_statement,
    rule_wording,
)
from cai_lang.files import write_atomic
from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import strip
from cai_lang.ir.model import (
    ConflictDef,
    Constitution,
    PrincipleDef,
    ResolvedDeployment,
    RuleDef,
)
from cai_lang.ir.order import PriorityGraph
from cai_lang.ir.resolve import resolve_deployment

MARKDOWN_FILE = "constitution.md"


# ---------------------------------------------------------------- conditions


class Reading:
    """What the wording of one deployment may say: variables by their descriptions, and
    only the parts of a condition the deployment's assumptions leave open."""

    def __init__(self, deployment: ResolvedDeployment | None = None):
        context = deployment.context if deployment is not None else {}
        self.described = {name: v.description for name, v in context.items() if v.description}
        self.schema = {name: ContextVariableSpec(name=name, kind=v.kind, values=v.values) for name, v in context.items()}
        self.assumptions = tuple(strip(a) for a in deployment.assumptions) if deployment is not None else ()

    def open_part(self, condition: ir.Condition | None):
        """The stripped condition with what the assumptions decide settled (`true` when missing)."""
        tree = TRUE if condition is None else strip(condition)
        return left_open(tree, self.schema, self.assumptions)


_PLAIN = Reading()


def condition_of(condition: ir.Condition | None, reading: Reading = _PLAIN) -> Condition:
    """A bundle condition; a missing one (no `applies when`, no `when`) is `true`. The tree is
    the condition as written; the text reads what is still open in the deployment."""
    tree = TRUE if condition is None else strip(condition)
    return Condition(tree=tree, text=condition_text(reading.open_part(condition), reading.described))


def _key(model) -> str:
    # A total order on bundle values, for lists whose meaning does not depend on order.
    return json.dumps(model.model_dump(mode="json"), sort_keys=True)


def _distinct_sorted(models) -> tuple:
    unique = {_key(m): m for m in models}
    return tuple(unique[k] for k in sorted(unique))


# ---------------------------------------------------------------- items


def principle_entry(principle: PrincipleDef, weight: float, tier: int, reading: Reading = _PLAIN) -> PrincipleEntry:
    node = principle.node
    text = lambda field: field.value if field is not None else None  # noqa: E731
    wording = Wording(critique_request=text(node.critique), revision_request=text(node.revision), comparison_question=text(node.compare))
    phases = []
    if wording.critique_request is not None and wording.revision_request is not None:
        phases.append("sl")
    if wording.comparison_question is not None:
        phases.append("rl")
    return PrincipleEntry(
        id=principle.id,
        description=text(node.description),
        origin=principle.origin,
        weight=float(weight),
        tier=tier,
        tags=tuple(sorted({t.value for t in node.tags})),
        applies=condition_of(node.applies, reading),
        wording=wording,
        examples=tuple(example_entry(e) for e in node.examples),
        comparisons=tuple(comparison_entry(c) for c in node.comparisons),
        phases=tuple(phases),
    )


def _text(field: ir.Text | None) -> str | None:
    return field.value if field is not None else None


def example_entry(node: ir.Example) -> Example:
    return Example(
        prompt=_text(node.prompt),
        response=_text(node.response),
        critique=_text(node.critique),
        revision=_text(node.revision),
        turns=tuple(Turn(role=t.role, content=t.text.value) for t in node.turns),
        critique_request=_text(node.critique_request),
        revision_request=_text(node.revision_request),
    )


def comparison_entry(node: ir.Comparison) -> ComparisonExample:
    # The checker has made sure there are two responses and a preference.
    return ComparisonExample(
        conversation=tuple(Turn(role=role, content=content) for role, content in node.conversation()),
        question=_text(node.compare),
        response_a=node.responses[0].value,
        response_b=node.responses[1].value,
        preferred=node.prefer.value,
        reasoning=_text(node.reasoning),
    )


def rule_entry(rule: RuleDef, deployment: ResolvedDeployment, tier: int, reading: Reading = _PLAIN) -> RuleEntry:
    node = rule.node
    action = deployment.actions[rule.action]
    guard, guard_tree = node.guard, (reading.open_part(node.condition) if node.condition is not None else None)
    if guard_tree is not None and guard_tree.kind == "const":
        guard, guard_tree = None, None  # decided by the assumptions (and known to apply: see `_never_apply`)
    described = reading.described
    return RuleEntry(
        id=rule.id,
        origin=rule.origin,
        verdict=node.verdict,
        action=action.id,
        action_text=action.text,
        statement=rule_statement(node.verdict, action.text, guard, guard_tree, described),
        weight=1.0,
        tier=tier,
        applies=condition_of(node.effective_condition, reading),
        wording=rule_wording(node.verdict, action.text, guard, guard_tree, described, hard=node.hard),
        detect=node.detect.value if node.detect is not None else None,
        phases=("sl", "rl"),
        hard=node.hard,
    )


def conflict_entry(conflict: ConflictDef) -> ConflictEntry:
    conditional = _distinct_sorted(Clause(prefer=c.side, when=condition_of(c.condition)) for c in conflict.clauses if c.condition is not None)
    otherwise = [Clause(prefer=c.side) for c in conflict.clauses if c.condition is None][:1]
    clauses = (*conditional, *otherwise)
    return ConflictEntry(
        left=conflict.left,
        right=conflict.right,
        origin=conflict.origin,
        clauses=clauses,
        resolution=resolution_text(conflict.left, conflict.right, clauses),
    )


def priority_order(deployment: ResolvedDeployment) -> tuple[PriorityOrder, dict[str, int]]:
    graph = PriorityGraph(deployment.priorities)
    enabled = sorted(deployment.enabled_ids())
    tier = graph.tiers(enabled)
    tiers = [sorted(i for i in enabled if tier[i] == level) for level in range(max(tier.values(), default=-1) + 1)]
    # Each item's memoised `below` set, not every pair: quadratic pair tests
    # cost 0.3 s per deployment of a 500-principle constitution.
    enabled_set = set(enabled)
    order = sorted((higher, lower) for higher in enabled for lower in graph.below(higher) & enabled_set if higher != lower)
    return PriorityOrder(tiers=tuple(tuple(t) for t in tiers), order=tuple(order)), tier


# ---------------------------------------------------------------- deployment


def _enabled_weights(deployment: ResolvedDeployment) -> dict[str, float]:
    return {**{r.id: 1.0 for r in deployment.rules}, **deployment.weights}


def changes_against(deployment: ResolvedDeployment, base: ResolvedDeployment) -> Changes:
    mine, theirs = deployment.enabled_ids(), base.enabled_ids()
    before, after = _enabled_weights(base), _enabled_weights(deployment)
    base_assumptions = {_key(condition_of(a)) for a in base.assumptions}
    return Changes(
        added=tuple(sorted(mine - theirs)),
        removed=tuple(sorted(theirs - mine)),
        reweighted=tuple(Reweight(id=i, before=before[i], after=after[i]) for i in sorted(mine & theirs) if before[i] != after[i]),
        assumptions=_distinct_sorted(c for c in map(condition_of, deployment.assumptions) if _key(c) not in base_assumptions),
        priorities=tuple(sorted({p.members for p in deployment.priorities if p.origin == deployment.name})),
        conflicts=tuple(sorted({(c.left, c.right) for c in deployment.conflicts if c.origin == deployment.name})),
    )


def build_bundle(
    deployment: ResolvedDeployment,
    *,
    constitution: ConstitutionInfo,
    base: ResolvedDeployment | None = None,
    compiler_version: str = __version__,
    permissions: dict | None = None,
) -> Bundle:
    """Compile one resolved deployment; `base` is the deployment it extends (None for `default`).

    `permissions` (who can change each action's verdict) is worked out by the
    checker, which the compiler does not import; `api.compile_checked` passes it."""
    reading = Reading(deployment)
    changes = changes_against(deployment, base) if base is not None else None  # as declared, before dead items go
    deployment, omitted = _without_dead_items(deployment, reading)
    priority, tier = priority_order(deployment)
    enabled = deployment.enabled_ids()
    principles = [principle_entry(p, deployment.weights[p.id], tier[p.id], reading) for p in deployment.principles]
    rules = [rule_entry(r, deployment, tier[r.id], reading) for r in deployment.rules]
    conflicts = [conflict_entry(c) for c in deployment.conflicts if c.left in enabled and c.right in enabled]
    context = [ContextVariableSpec(name=v.name, kind=v.kind, values=v.values, description=v.description, set_by=v.set_by) for v in deployment.context.values()]
    bundle = Bundle(
        compiler_version=compiler_version,
        constitution=constitution,
        deployment=DeploymentInfo(
            name=deployment.name,
            base=base.name if base is not None else None,
            chain=deployment.chain,
            assumptions=_distinct_sorted(condition_of(a) for a in deployment.assumptions),
            changes=changes,
        ),
        context=tuple(sorted(context, key=lambda v: v.name)),
        principles=tuple(sorted(principles, key=lambda p: p.id)),
        rules=tuple(sorted(rules, key=lambda r: r.id)),
        priority=priority,
        conflicts=_distinct_sorted(conflicts),
        template_variables=dict(TEMPLATE_VARIABLES),
        template_options=dict(TEMPLATE_OPTIONS),
        templates=template_entries(),
        early_stop=early_stop(),
        few_shot=FewShot(
            examples=tuple(example_entry(e) for e in deployment.examples),
            comparisons=tuple(comparison_entry(c) for c in deployment.comparisons),
        ),
        permissions=tuple(Permission(action=a, who=p["who"], variables=tuple(p["variables"])) for a, p in sorted((permissions or {}).items())),
        omitted=omitted,
    )
    return bundle.sealed()


def _without_dead_items(deployment: ResolvedDeployment, reading: Reading) -> tuple[ResolvedDeployment, tuple[Omitted, ...]]:
    """The deployment without the items its assumptions rule out, and a note for each."""
    if not reading.assumptions:
        return deployment, ()
    def never(condition) -> bool:
        tree = reading.open_part(condition)
        return tree.kind == "const" and not tree.value

    dead = {p.id: "principle" for p in deployment.principles if never(p.node.applies)}
    dead.update({r.id: "rule" for r in deployment.rules if never(r.node.effective_condition)})
    if not dead:
        return deployment, ()
    notes = tuple(
        Omitted(id=item_id, kind=kind, note=f"left out: this deployment's assumptions ({'; '.join(condition_text(a, reading.described) for a in reading.assumptions)}) rule out every context where it applies")
        for item_id, kind in sorted(dead.items())
    )
    trimmed = deployment.model_copy(
        update={"principles": tuple(p for p in deployment.principles if p.id not in dead), "rules": tuple(r for r in deployment.rules if r.id not in dead)}
    )
    return trimmed, notes


def compile_deployment(constitution: Constitution, name: str, *, compiler_version: str = __version__, permissions: dict | None = None) -> Bundle:
    """Compile deployment `name` of a checked constitution (`permissions`: see `build_bundle`)."""
    deployment = resolve_deployment(constitution, name)
    base = resolve_deployment(constitution, deployment.chain[-2]) if len(deployment.chain) > 1 else None
    info = ConstitutionInfo(name=constitution.name, version=constitution.version, description=constitution.description, phase=constitution.phase)
    return build_bundle(deployment, constitution=info, base=base, compiler_version=compiler_version, permissions=permissions)


# ---------------------------------------------------------------- output


def bundle_files(bundle: Bundle) -> dict[str, str]:
    """Every file of a compiled bundle, by path relative to its folder, with its text."""
    from cai_lang.codegen.markdown import render_markdown

    files = {BUNDLE_FILE: bundle.to_json(), MARKDOWN_FILE: render_markdown(bundle)}
    for template in bundle.templates.values():
        files[template.file] = template.source
    return dict(sorted(files.items()))


def write_bundle(bundle: Bundle, out_dir: str | Path) -> list[Path]:
    """Write a bundle under `out_dir/DEPLOYMENT/`; returns the paths written."""
    folder = Path(out_dir) / bundle.deployment.name
    written = []
    for relative, text in bundle_files(bundle).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        written.append(path)
    return written
