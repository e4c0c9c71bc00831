"""Typing conditions against the merged context schema.

A bare variable must be a bool; `==` and `!=` compare a bool with
`true`/`false` and an enum with one of its values; `in {...}` lists values
of the variable's type; the order comparisons need an enum. Unknown
variables and values are E101 (with a suggestion), misuse is E106. Each
module is typed against its own declaration of a variable where that
differs from the merged one, so a clash (one E106) does not cascade.
"""

from __future__ import annotations

from typing import Iterator

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.fixes import suggestion
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import Leaves, fold
from cai_lang.ir.model import Constitution, ContextVariable
from cai_lang.ir.program import Program

_BOOL_VALUES = ("true", "false")


def conditions_of(node: ir.Node) -> Iterator[ir.Condition]:
    """The conditions written directly in a declaration or deployment item."""
    if isinstance(node, ir.Principle) and node.applies is not None:
        yield node.applies
    elif isinstance(node, ir.Rule) and node.condition is not None:
        yield node.condition
    elif isinstance(node, ir.Conflict):
        yield from (c.condition for c in node.clauses if c.condition is not None)
    elif isinstance(node, ir.Assume):
        yield node.condition
    elif isinstance(node, ir.Deployment):
        for item in node.items:
            yield from conditions_of(item)


class _Typer(Leaves):
    def __init__(self, context: dict[str, ContextVariable]):
        self.context = context
        self.found: list[Diagnostic] = []

    def variable(self, name: ir.Name) -> ContextVariable | None:
        var = self.context.get(name.value)
        if var is None:
            help, fix = suggestion(name.value, self.context, name.span)
            self.found.append(msg.UNKNOWN_REFERENCE.at(name.span, kind="context variable", name=name.value, help=help or "declare it in a `context` block", fixes=[fix]))
        return var

    def value(self, var: ContextVariable, value: ir.Name) -> None:
        if var.kind == "bool":
            if value.value not in _BOOL_VALUES:
                self.found.append(msg.ENUM_VALUE_ON_BOOL.at(value.span, var=var.name, value=value.value))
        elif value.value in _BOOL_VALUES:
            self.found.append(msg.BOOL_VALUE_ON_ENUM.at(value.span, var=var.name, value=value.value))
        elif value.value not in var.values:
            help, fix = suggestion(value.value, var.values, value.span)
            self.found.append(msg.UNKNOWN_VALUE.at(value.span, value=value.value, var=var.name, values=", ".join(var.values), help=help, fixes=[fix]))

    def check(self, cond: ir.Condition) -> None:
        fold(cond, self)

    # The condition algebra's leaves report; `Leaves` walks the composites.

    def var(self, node, name):
        var = self.variable(node.var)
        if var is not None and var.kind != "bool":
            self.found.append(
                msg.BOOL_EXPECTED.at(node.span, var=var.name, type=var.describe(), help=f"compare it with a value, e.g. `{var.name} == {var.values[0]}`")
            )
        return []

    def compare(self, node, name, op, value):
        var = self.variable(node.var)
        if var is None:
            return []
        if var.kind == "bool" and op not in ("==", "!="):
            self.found.append(msg.ENUM_ORDER_ON_BOOL.at(node.span, op=op, var=var.name))
            return []
        self.value(var, node.value)
        return []

    def member(self, node, name, values):
        var = self.variable(node.var)
        if var is not None:
            for value in node.values:
                self.value(var, value)
        return []


def check_types(program: Program, constitution: Constitution) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for module in program.modules.values():
        # A module's conditions are typed against its own declaration of a
        # variable: where that clashes with the merged one (E106, reported at
        # the user's declaration), checking them against the other would only
        # repeat the clash as E101s inside the module.
        typer = _Typer({**constitution.context, **_own_context(module, constitution.context)})
        for declaration in module.declarations:
            for cond in conditions_of(declaration):
                typer.check(cond)
        found.extend(typer.found)
    return found


def _own_context(module: ir.Module, merged: dict[str, ContextVariable]) -> dict[str, ContextVariable]:
    own: dict[str, ContextVariable] = {}
    for block in module.of_type(ir.ContextBlock):
        for var in block.variables:
            name = var.name.value
            values = () if isinstance(var.type, ir.BoolType) else tuple(v.value for v in var.type.values)
            kind = "bool" if isinstance(var.type, ir.BoolType) else "enum"
            if name in merged and (merged[name].kind, merged[name].values) != (kind, values):
                own.setdefault(name, ContextVariable(name=name, kind=kind, values=values, span=var.name.span))
    return own


def check_condition(context: dict[str, ContextVariable], cond: ir.Condition) -> list[Diagnostic]:
    """E101/E106 findings for one condition on its own (a test's `given`)."""
    typer = _Typer(context)
    typer.check(cond)
    return typer.found
