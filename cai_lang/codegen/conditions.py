"""Conditions as the bundle carries them, and the evaluator the trainer uses on them.

A bundle stores every context condition (a principle's `applies when`, a
rule's effective condition, a conflict clause, a deployment's `assume`) as
a small JSON tree: the same tagged union as the IR (`kind` is one of const,
var, compare, in, not, and, or) but without source spans, so the trainer
can read it without the parser. This module owns those tree models and
decides them against a prompt's context labels.

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
from typing import Annotated, Iterable, Literal, Mapping, Union

from pydantic import BaseModel, ConfigDict, Field

Label = Union[bool, str]


class _Tree(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConstExpr(_Tree):
    kind: Literal["const"] = "const"
    value: bool


class VarExpr(_Tree):
    """A bool context variable on its own: holds when the variable is true."""

    kind: Literal["var"] = "var"
    var: str


class CompareExpr(_Tree):
    """`var OP value` on an enum; `<`, `<=`, `>`, `>=` follow the declared order of values."""

    kind: Literal["compare"] = "compare"
    var: str
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    value: str


class InExpr(_Tree):
    kind: Literal["in"] = "in"
    var: str
    values: tuple[str, ...]


class NotExpr(_Tree):
    kind: Literal["not"] = "not"
    operand: "Expr"


class AndExpr(_Tree):
    kind: Literal["and"] = "and"
    operands: tuple["Expr", ...]


class OrExpr(_Tree):
    kind: Literal["or"] = "or"
    operands: tuple["Expr", ...]


Expr = Annotated[
    Union[ConstExpr, VarExpr, CompareExpr, InExpr, NotExpr, AndExpr, OrExpr],
    Field(discriminator="kind"),
]

for _model in (NotExpr, AndExpr, OrExpr):
    _model.model_rebuild()

TRUE = ConstExpr(value=True)


class ContextVariableSpec(BaseModel):
    """One context variable of the schema: `bool`, or an enum with its values in declared order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["bool", "enum"]
    values: tuple[str, ...] = ()

    def domain(self) -> tuple[Label, ...]:
        return (False, True) if self.kind == "bool" else self.values


Schema = Mapping[str, ContextVariableSpec]


def variables_of(expr) -> set[str]:
    """Every context variable a condition mentions."""
    if isinstance(expr, (VarExpr, CompareExpr, InExpr)):
        return {expr.var}
    if isinstance(expr, NotExpr):
        return variables_of(expr.operand)
    if isinstance(expr, (AndExpr, OrExpr)):
        return set().union(*(variables_of(o) for o in expr.operands))
    return set()


def evaluate(expr, assignment: Mapping[str, Label], schema: Schema) -> bool:
    """The value of a condition when every variable it mentions has a value."""
    if isinstance(expr, ConstExpr):
        return expr.value
    if isinstance(expr, VarExpr):
        return assignment[expr.var] is True
    if isinstance(expr, InExpr):
        return assignment[expr.var] in expr.values
    if isinstance(expr, CompareExpr):
        actual = assignment[expr.var]
        if expr.op == "==":
            return _same(actual, expr.value)
        if expr.op == "!=":
            return not _same(actual, expr.value)
        order = schema[expr.var].values
        left, right = order.index(actual), order.index(expr.value)
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[expr.op]
    if isinstance(expr, NotExpr):
        return not evaluate(expr.operand, assignment, schema)
    if isinstance(expr, AndExpr):
        return all(evaluate(o, assignment, schema) for o in expr.operands)
    if isinstance(expr, OrExpr):
        return any(evaluate(o, assignment, schema) for o in expr.operands)
    raise TypeError(f"not a condition: {expr!r}")


def _same(actual: Label, written: str) -> bool:
    # Only enums are compared in a checked file; a bool compared to `true` is tolerated.
    if isinstance(actual, bool):
        return str(actual).lower() == written
    return actual == written


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
    mentioned = variables_of(expr).union(*(variables_of(a) for a in assumptions))
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
