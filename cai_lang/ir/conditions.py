"""The one condition algebra: its operators, its span-free tree, one fold, one evaluator.

A condition has two forms: the syntax nodes of `cai_lang.ir.nodes` (what
the parser builds, every part with its span) and the span-free tree defined
here (what a bundle carries, so the trainer reads it without the parser).
Both are the same tagged union: `kind` is one of `OPERATORS`, with the same
fields under the same names; a leaf's names are `Name` nodes in the first
form and plain strings in the second.

Every walk over conditions (the z3 encoder, the printer, the English
wording, the type checks, the editor's index, the bundle's projection, the
evaluator below) is an `Algebra`: one method per operator, called
bottom-up by `fold`, the single place that dispatches on `kind`. Adding an
operator means adding its node here and in `ir.nodes`, one abstract method
on `Algebra`, and that method in each algebra; Python refuses to build an
algebra that lacks it.

`evaluate` answers for one concrete assignment (a witness, or a prompt's
labels once every variable is known): the checker and the trainer use this
same function, so they cannot disagree on what a condition means.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from typing import Annotated, Callable, Generic, Literal, Mapping, Protocol, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
Label = Union[bool, str]

OPERATORS = ("const", "var", "compare", "in", "not", "and", "or")
COMPARISONS: dict[str, Callable[[object, object], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
NEGATED_COMPARISON = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


# ---------------------------------------------------------------- the span-free tree


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


# ---------------------------------------------------------------- the fold


def name_of(leaf) -> str:
    """A leaf's name or value: a `Name` node's text, or the string itself."""
    return leaf if isinstance(leaf, str) else leaf.value


class Algebra(ABC, Generic[T]):
    """What a walk does at each operator; `node` is the condition being folded (either form)."""

    @abstractmethod
    def const(self, node, value: bool) -> T: ...

    @abstractmethod
    def var(self, node, name: str) -> T: ...

    @abstractmethod
    def compare(self, node, name: str, op: str, value: str) -> T: ...

    @abstractmethod
    def member(self, node, name: str, values: tuple[str, ...]) -> T: ...

    @abstractmethod
    def negate(self, node, operand: T) -> T: ...

    @abstractmethod
    def conjoin(self, node, operands: list[T]) -> T: ...

    @abstractmethod
    def disjoin(self, node, operands: list[T]) -> T: ...


def fold(cond, algebra: Algebra[T]) -> T:
    """`cond` (a syntax node or a span-free tree) folded bottom-up through `algebra`."""
    kind = getattr(cond, "kind", None)
    if kind == "const":
        return algebra.const(cond, cond.value)
    if kind == "var":
        return algebra.var(cond, name_of(cond.var))
    if kind == "compare":
        return algebra.compare(cond, name_of(cond.var), cond.op, name_of(cond.value))
    if kind == "in":
        return algebra.member(cond, name_of(cond.var), tuple(name_of(v) for v in cond.values))
    if kind == "not":
        return algebra.negate(cond, fold(cond.operand, algebra))
    if kind == "and":
        return algebra.conjoin(cond, [fold(o, algebra) for o in cond.operands])
    if kind == "or":
        return algebra.disjoin(cond, [fold(o, algebra) for o in cond.operands])
    raise TypeError(f"not a condition: {cond!r}")


class Leaves(Algebra[list]):
    """An algebra that collects something at the leaves: composites concatenate their operands."""

    def const(self, node, value):
        return []

    def negate(self, node, operand):
        return operand

    def conjoin(self, node, operands):
        return [x for part in operands for x in part]

    disjoin = conjoin


# ---------------------------------------------------------------- common folds


class _Strip(Algebra[Expr]):
    def const(self, node, value):
        return ConstExpr(value=value)

    def var(self, node, name):
        return VarExpr(var=name)

    def compare(self, node, name, op, value):
        return CompareExpr(var=name, op=op, value=value)

    def member(self, node, name, values):
        return InExpr(var=name, values=values)

    def negate(self, node, operand):
        return NotExpr(operand=operand)

    def conjoin(self, node, operands):
        return AndExpr(operands=tuple(operands))

    def disjoin(self, node, operands):
        return OrExpr(operands=tuple(operands))


def strip(cond) -> Expr:
    """The span-free tree of a condition: what a bundle stores."""
    return fold(cond, _Strip())


class _Names(Leaves):
    def var(self, node, name):
        return [name]

    def compare(self, node, name, op, value):
        return [name]

    def member(self, node, name, values):
        return [name]


def variables_read(cond) -> set[str]:
    """Every context variable a condition mentions (none for a missing condition)."""
    return set() if cond is None else set(fold(cond, _Names()))


class Variable(Protocol):
    """What the evaluator needs of a context variable: its kind and an enum's values in order."""

    kind: str
    values: tuple[str, ...]


def position(var: Variable, value: Label) -> "int | bool":
    """Where a value sits in its variable's domain: a bool as itself, an enum value by declared order."""
    if var.kind == "bool":
        return value if isinstance(value, bool) else value == "true"
    return var.values.index(value)


class _Evaluate(Algebra[bool]):
    def __init__(self, values: Mapping[str, Label], context: Mapping[str, Variable]):
        self.values, self.context = values, context

    def const(self, node, value):
        return value

    def var(self, node, name):
        return self.values[name] is True

    def compare(self, node, name, op, value):
        var = self.context[name]
        return COMPARISONS[op](position(var, self.values[name]), position(var, value))

    def member(self, node, name, values):
        var = self.context[name]
        return position(var, self.values[name]) in {position(var, v) for v in values}

    def negate(self, node, operand):
        return not operand

    def conjoin(self, node, operands):
        return all(operands)

    def disjoin(self, node, operands):
        return any(operands)


def evaluate(cond, values: Mapping[str, Label], context: Mapping[str, Variable]) -> bool:
    """Whether `cond` (either form; None is true) holds when each variable has its value in `values`."""
    if cond is None:
        return True
    return fold(cond, _Evaluate(values, context))
