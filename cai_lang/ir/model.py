"""The resolved model: what a constitution means once names are bound.

`Constitution` is built by the checker's name pass from a `Program`: every
principle, rule and action under its qualified id (`helpful`,
`harmless.least_harmful`), the merged context schema, priorities and
conflicts with their references resolved to ids, and the deployments.
`ResolvedDeployment` is one deployment with its inheritance applied: the
principles and rules it enables with their effective weights, its
assumptions, and what it changed against its base. The compiler reads these
values; it never looks up a name itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from cai_lang.ir import nodes as ir
from cai_lang.span import Span

DEFAULT_DEPLOYMENT = "default"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class ContextVariable(Frozen):
    name: str
    kind: Literal["bool", "enum"]
    values: tuple[str, ...] = ()  # enum values in declared order; empty for bool
    span: Span
    description: str | None = None  # what the variable means, in words a model can judge (1.2)
    set_by: Literal["user", "operator"] = "operator"  # who may establish it (1.2)

    def describe(self) -> str:
        return "bool" if self.kind == "bool" else "enum " + " | ".join(self.values)


class ActionDef(Frozen):
    id: str
    text: str
    span: Span


class PrincipleDef(Frozen):
    id: str
    node: ir.Principle
    origin: str = DEFAULT_DEPLOYMENT  # the deployment that declared it

    @property
    def weight(self) -> float:
        return self.node.weight.value if self.node.weight is not None else 1.0


class RuleDef(Frozen):
    id: str
    node: ir.Rule
    action: str | None = None  # the action's id, None when unresolved
    origin: str = DEFAULT_DEPLOYMENT


class PriorityDef(Frozen):
    members: tuple[str, ...]  # ids, highest first
    spans: tuple[Span, ...]  # the span of each member reference
    node: ir.Priority
    origin: str = DEFAULT_DEPLOYMENT


class ClauseDef(Frozen):
    side: str  # id of the preferred side
    condition: ir.Condition | None = None  # None: `otherwise`
    node: ir.PreferClause


class ConflictDef(Frozen):
    left: str
    right: str
    clauses: tuple[ClauseDef, ...]
    node: ir.Conflict
    origin: str = DEFAULT_DEPLOYMENT


class DeploymentDef(Frozen):
    """A deployment as declared, with its own items resolved; inheritance not applied."""

    name: str
    extends: str | None = None  # None only for `default`
    node: ir.Deployment | None = None
    assumptions: tuple[ir.Condition, ...] = ()
    weights: dict[str, float] = Field(default_factory=dict)
    weight_spans: dict[str, Span] = Field(default_factory=dict)  # a hard rule's here too (E209)
    disable_spans: dict[str, Span] = Field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()
    principles: tuple[PrincipleDef, ...] = ()
    rules: tuple[RuleDef, ...] = ()
    priorities: tuple[PriorityDef, ...] = ()
    conflicts: tuple[ConflictDef, ...] = ()

    @property
    def span(self) -> Span | None:
        return self.node.name.span if self.node is not None else None


class Constitution(Frozen):
    name: str
    version: str | None = None
    description: str | None = None
    phase: Literal["sl", "rl"] | None = None  # declared in the header: the constitution serves that phase only
    root: str
    anchor: Span  # where findings about the whole constitution point: its header, or line 1
    context: dict[str, ContextVariable] = Field(default_factory=dict)
    actions: dict[str, ActionDef] = Field(default_factory=dict)
    principles: dict[str, PrincipleDef] = Field(default_factory=dict)
    rules: dict[str, RuleDef] = Field(default_factory=dict)
    priorities: tuple[PriorityDef, ...] = ()
    conflicts: tuple[ConflictDef, ...] = ()
    deployments: dict[str, DeploymentDef] = Field(default_factory=dict)  # `default` first
    # Shared few-shots (top-level `example` / `comparison`), root module first, in declaration order.
    examples: tuple[ir.Example, ...] = ()
    comparisons: tuple[ir.Comparison, ...] = ()

    def chain(self, name: str) -> list[DeploymentDef]:
        """`default` first, then each deployment down to `name`; stops at a cycle."""
        chain: list[DeploymentDef] = []
        current: str | None = name
        while current is not None and current in self.deployments:
            deployment = self.deployments[current]
            if deployment in chain:
                break
            chain.append(deployment)
            current = deployment.extends
        return list(reversed(chain))


class ResolvedDeployment(Frozen):
    """One deployment with inheritance applied: the value the compiler turns into a bundle."""

    name: str
    chain: tuple[str, ...]  # `default` ... name
    assumptions: tuple[ir.Condition, ...]
    context: dict[str, ContextVariable]
    principles: tuple[PrincipleDef, ...]  # enabled only
    weights: dict[str, float]  # effective weight of each enabled principle
    rules: tuple[RuleDef, ...]  # enabled only
    actions: dict[str, ActionDef]
    priorities: tuple[PriorityDef, ...]
    conflicts: tuple[ConflictDef, ...]
    disabled: tuple[str, ...]  # ids switched off by this chain
    added: tuple[str, ...]  # ids declared by deployments in the chain
    reweighted: dict[str, float]  # weights set by deployments in the chain
    examples: tuple[ir.Example, ...] = ()  # shared few-shots, as in `Constitution`
    comparisons: tuple[ir.Comparison, ...] = ()
    _spans: dict[str, Span] | None = PrivateAttr(default=None)

    def enabled_ids(self) -> set[str]:
        return {p.id for p in self.principles} | {r.id for r in self.rules}

    def span_of(self, item_id: str) -> Span | None:
        # An index built on first use: a scan per call made checking quadratic
        # in the number of declared conflicts (each names two items).
        if self._spans is None:
            spans = {rule.id: rule.node.name.span for rule in reversed(self.rules)}
            spans.update({principle.id: principle.node.name.span for principle in reversed(self.principles)})
            self._spans = spans  # a private attribute: allowed on a frozen model
        return self._spans.get(item_id)
