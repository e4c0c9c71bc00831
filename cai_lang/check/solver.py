"""Exact reasoning about contexts with the z3 SMT solver.

Every context variable has a finite domain: a bool is a z3 Bool, an ordered
enum of n values is a z3 Int constrained to 0..n-1, so `risk >= medium` is
an integer comparison on declared positions. Satisfiability over these
domains is decided exactly (sound and complete), and a satisfying model
becomes a witness: one value for every context variable, in declared order.
`ContextSolver` keeps the domain and a deployment's assumptions asserted and
answers one query at a time with push/pop, caching by the query's structure.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import z3

from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import COMPARISONS, Algebra, fold
from cai_lang.ir.model import ContextVariable

Witness = dict[str, "bool | str"]


class Encoder(Algebra):
    """Turns IR conditions into z3 formulas over the context's variables."""

    def __init__(self, context: Mapping[str, ContextVariable]):
        self.context = context
        self.symbols: dict[str, z3.ExprRef] = {}
        self.domain: list[z3.BoolRef] = []
        for name, var in context.items():
            if var.kind == "bool":
                self.symbols[name] = z3.Bool(name)
            else:
                symbol = z3.Int(name)
                self.symbols[name] = symbol
                self.domain.append(z3.And(symbol >= 0, symbol < len(var.values)))

    def _value(self, var: ContextVariable, value: str):
        if var.kind == "bool":
            return z3.BoolVal(value == "true")
        return z3.IntVal(var.values.index(value))

    def encode(self, cond: ir.Condition | None) -> z3.BoolRef:
        return z3.BoolVal(True) if cond is None else fold(cond, self)

    # The condition algebra (`cai_lang.ir.conditions.Algebra`), one method per operator.

    def const(self, node, value):
        return z3.BoolVal(value)

    def var(self, node, name):
        return self.symbols[name]

    def compare(self, node, name, op, value):
        return COMPARISONS[op](self.symbols[name], self._value(self.context[name], value))

    def member(self, node, name, values):
        symbol = self.symbols[name]
        return z3.Or(*[symbol == self._value(self.context[name], v) for v in values])

    def negate(self, node, operand):
        return z3.Not(operand)

    def conjoin(self, node, operands):
        return z3.And(*operands)

    def disjoin(self, node, operands):
        return z3.Or(*operands)

    def witness(self, model: z3.ModelRef) -> Witness:
        values: Witness = {}
        for name, var in self.context.items():
            found = model.eval(self.symbols[name], model_completion=True)
            if var.kind == "bool":
                values[name] = z3.is_true(found)
            else:
                values[name] = var.values[found.as_long()]
        return values


class ContextSolver:
    """Satisfiability of conditions within one deployment's assumptions."""

    def __init__(self, context: Mapping[str, ContextVariable], assumptions: Iterable[ir.Condition] = ()):
        self.encoder = Encoder(context)
        self.solver = z3.Solver()
        self.solver.add(*self.encoder.domain)
        for assumption in assumptions:
            self.solver.add(self.encoder.encode(assumption))
        # Keyed by z3's hash-consed AST id; the query is kept alive with the
        # answer so its id cannot be reused by another formula.
        self._cache: dict[int, tuple[z3.BoolRef, Witness | None]] = {}

    def encode(self, cond: ir.Condition | None) -> z3.BoolRef:
        return self.encoder.encode(cond)

    def find(self, *formulas: z3.BoolRef) -> Witness | None:
        """A witness context where every formula holds, or None when there is none."""
        query = z3.And(*formulas) if formulas else z3.BoolVal(True)
        key = query.get_id()
        if key in self._cache:
            return self._cache[key][1]
        self.solver.push()
        self.solver.add(query)
        verdict = self.solver.check()
        result = self.encoder.witness(self.solver.model()) if verdict == z3.sat else None
        self.solver.pop()
        if verdict == z3.unknown:  # cannot happen on finite domains; be loud if it does
            raise RuntimeError("the solver could not decide a context query")
        self._cache[key] = (query, result)
        return result

    def satisfiable(self, *formulas: z3.BoolRef) -> bool:
        return self.find(*formulas) is not None

    # Formula builders, so that passes need not import z3 themselves (it
    # loads only when some check actually asks the solver something).
    @staticmethod
    def all_of(*formulas: z3.BoolRef) -> z3.BoolRef:
        return z3.And(*formulas) if formulas else z3.BoolVal(True)

    @staticmethod
    def any_of(*formulas: z3.BoolRef) -> z3.BoolRef:
        return z3.Or(*formulas) if formulas else z3.BoolVal(False)

    @staticmethod
    def negate(formula: z3.BoolRef) -> z3.BoolRef:
        return z3.Not(formula)
