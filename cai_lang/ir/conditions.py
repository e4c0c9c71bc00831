"""Direct evaluation of IR conditions on one concrete context.

The solver decides conditions over all contexts at once; this module answers
for a single assignment, which is what a witness is. Tests use it to confirm
every witness really shows what its diagnostic claims, and to compare the
solver against brute-force enumeration.
"""

from __future__ import annotations

from typing import Mapping

from cai_lang.ir import nodes as ir
from cai_lang.ir.model import ContextVariable

_ORDER_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _position(var: ContextVariable, value: "str | bool") -> "int | bool":
    if var.kind == "bool":
        return value if isinstance(value, bool) else value == "true"
    return var.values.index(value)


def evaluate(cond: ir.Condition | None, values: Mapping[str, "bool | str"], context: Mapping[str, ContextVariable]) -> bool:
    """Whether `cond` holds when each context variable has the value in `values`."""
    if cond is None:
        return True
    if isinstance(cond, ir.BoolConst):
        return cond.value
    if isinstance(cond, ir.VarCond):
        return bool(values[cond.var.value])
    if isinstance(cond, ir.CompareCond):
        var = context[cond.var.value]
        return _ORDER_OPS[cond.op](_position(var, values[var.name]), _position(var, cond.value.value))
    if isinstance(cond, ir.InCond):
        var = context[cond.var.value]
        return _position(var, values[var.name]) in {_position(var, v.value) for v in cond.values}
    if isinstance(cond, ir.NotCond):
        return not evaluate(cond.operand, values, context)
    if isinstance(cond, ir.AndCond):
        return all(evaluate(c, values, context) for c in cond.operands)
    if isinstance(cond, ir.OrCond):
        return any(evaluate(c, values, context) for c in cond.operands)
    raise TypeError(f"not a condition: {cond!r}")


def variables_read(cond: ir.Condition | None) -> set[str]:
    if cond is None or isinstance(cond, ir.BoolConst):
        return set()
    if isinstance(cond, (ir.VarCond, ir.CompareCond, ir.InCond)):
        return {cond.var.value}
    if isinstance(cond, ir.NotCond):
        return variables_read(cond.operand)
    return set().union(*(variables_read(c) for c in cond.operands))
