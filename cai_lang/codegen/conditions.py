"""Conditions as the bundle carries them, and the evaluator the trainer uses on them.

A bundle stores every context condition (a principle's `applies when`, a
rule's effective condition, a conflict clause, a deployment's `assume`) as
a small JSON tree: the span-free form of the one condition algebra
(`cai_lang.ir.conditions`), so the trainer can read it without the parser.
It is evaluated by that module's `evaluate`, the very function the checker
uses; this module decides trees against a prompt's partial context labels.

Labels may be partial: a trainer often knows a prompt's `topic` but not
whether its user is `authorized`. `decide` is therefore three-valued and
exact: it tries every value of each unlabelled variable the condition (or
the deployment's assumptions) mentions and answers True when the condition
holds for all of them, False when it holds for none, and None when it
depends. `applies` treats None as applying: a principle that might be
relevant to a prompt is used for it. Domains are the finite ones declared
in the context schema, so this enumeration is exact and cheap. Nothing here
imports jinja2.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict

from cai_lang.ir.conditions import (  # noqa: F401  (the bundle's tree, re-exported for its readers)
    TRUE,
    Algebra,
    AndExpr,
    CompareExpr,
    ConstExpr,
    Expr,
    InExpr,
    Label,
    NotExpr,
    OrExpr,
    VarExpr,
    evaluate,
    fold,
    variables_read,
)


class ContextVariableSpec(BaseModel):
    """One context variable of the schema: `bool`, or an enum with its values in declared order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["bool", "enum"]
    values: tuple[str, ...] = ()
    description: str | None = None  # what the variable means; compiled wording uses it (1.2)
    set_by: Literal["user", "operator"] = "operator"  # who may establish it (1.2)

    def domain(self) -> tuple[Label, ...]:
        return (False, True) if self.kind == "bool" else self.values


Schema = Mapping[str, ContextVariableSpec]


def check_labels(labels: Mapping[str, Label], schema: Schema) -> dict[str, Label]:
    """The labels for declared variables, validated; labels for undeclared variables are dropped."""
    known: dict[str, Label] = {}
    for name, value in labels.items():
        spec = schema.get(name)
        if spec is None:
            continue
        if spec.kind == "bool" and not isinstance(value, bool):
            raise ValueError(f"context variable `{name}` is bool, got {value!r}")
        if spec.kind == "enum" and value not in spec.values:
            raise ValueError(f"context variable `{name}` is one of {', '.join(spec.values)}; got {value!r}")
        known[name] = value
    return known


def decide(expr, labels: Mapping[str, Label], schema: Schema, assumptions: Iterable = ()) -> bool | None:
    """True if the condition holds however the unlabelled variables are set, False if it holds
    for no setting, None if it depends on them.

    `assumptions` (a deployment's `assume` conditions) narrow the unlabelled
    variables to the settings the deployment allows. When the labels
    themselves contradict the assumptions, the assumptions are ignored rather
    than letting nothing apply.
    """
    known = check_labels(labels, schema)
    assumptions = tuple(assumptions)
    mentioned = variables_read(expr).union(*(variables_read(a) for a in assumptions))
    missing = sorted(name for name in mentioned if name not in known)
    for name in missing:
        if name not in schema:
            raise ValueError(f"condition mentions `{name}`, which the context schema does not declare")
    settings = []
    for values in itertools.product(*(schema[name].domain() for name in missing)):
        settings.append({**known, **dict(zip(missing, values))})
    allowed = [s for s in settings if all(evaluate(a, s, schema) for a in assumptions)]
    outcomes = {evaluate(expr, s, schema) for s in (allowed or settings)}
    if outcomes == {True}:
        return True
    if outcomes == {False}:
        return False
    return None


def applies(expr, labels: Mapping[str, Label], schema: Schema, assumptions: Iterable = ()) -> bool:
    """Whether a condition counts as applying to a prompt: it holds, or it might."""
    return decide(expr, labels, schema, assumptions) is not False


# ---------------------------------------------------------------- what a deployment leaves open


class _Open(Algebra[Expr]):
    """Each part of a condition that the assumptions decide becomes `true` or `false`;
    `and` / `or` then drop what no longer matters. Exact: `decide` enumerates the
    finite domains of the variables involved."""

    def __init__(self, schema: Schema, assumptions: tuple):
        self.schema, self.assumptions = schema, assumptions

    def _settled(self, tree: Expr) -> Expr:
        known = decide(tree, {}, self.schema, self.assumptions)
        return tree if known is None else ConstExpr(value=known)

    def const(self, node, value):
        return ConstExpr(value=value)

    def var(self, node, name):
        return self._settled(VarExpr(var=name))

    def compare(self, node, name, op, value):
        return self._settled(CompareExpr(var=name, op=op, value=value))

    def member(self, node, name, values):
        return self._settled(InExpr(var=name, values=values))

    def negate(self, node, operand):
        if operand.kind == "const":
            return ConstExpr(value=not operand.value)
        return self._settled(NotExpr(operand=operand))

    def conjoin(self, node, operands):
        return self._joined(operands, AndExpr, absorbing=False)

    def disjoin(self, node, operands):
        return self._joined(operands, OrExpr, absorbing=True)

    def _joined(self, operands, build, absorbing: bool):
        if any(o.kind == "const" and o.value is absorbing for o in operands):
            return ConstExpr(value=absorbing)
        left = [o for o in operands if o.kind != "const"]
        if not left:
            return ConstExpr(value=not absorbing)
        return self._settled(left[0] if len(left) == 1 else build(operands=tuple(left)))


def left_open(expr, schema: Schema, assumptions: Iterable = ()) -> Expr:
    """`expr` with every part the deployment's assumptions decide replaced by its value:
    what is still open in that deployment (`true` when the assumptions make it hold everywhere)."""
    assumptions = tuple(assumptions)
    if not assumptions:
        return expr
    return fold(expr, _Open(schema, assumptions))
