"""Exact reasoning about contexts with the z3 SMT solver.

Every context variable has a finite domain: a bool is a z3 Bool, an ordered
enum of n values is a z3 Int constrained to 0..n-1, so `risk >= medium` is
an integer comparison on declared positions. Satisfiability over these
domains is decided exactly (sound and complete), and a satisfying model
becomes a witness: one value for every context variable, in declared order.
`ContextSolver` keeps the domain and a deployment's assumptions asserted and
answers one query at a time with push/pop, caching by the query's structure.

Every query is bounded: z3 may spend at most `solver_rlimit()` resource units
on it (`CAIC_SOLVER_RLIMIT`, default `DEFAULT_RLIMIT`: a deterministic count
of the solver's work, so the same file is decided the same way on every
machine), with a wall-clock backstop of `TIMEOUT_MS`. Real constitutions
need a few thousand units per query; a condition that encodes a hard
combinatorial problem (pigeonhole with ten holes) runs out instead of
running forever, and `find` raises `SolverUndecided`, which the checker
reports as E212 and `caic test` as "not judged": undecided is never taken
as proved.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

import z3

from cai_lang.errors import CaicError
from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import COMPARISONS, Algebra, fold
from cai_lang.ir.model import ContextVariable

Witness = dict[str, "bool | str"]

DEFAULT_RLIMIT = 2_000_000  # z3 resource units per query
TIMEOUT_MS = 60_000  # wall-clock backstop per query, should the resource count ever fail to stop it


def solver_rlimit() -> int:
    """The resource limit per query: CAIC_SOLVER_RLIMIT when it is a positive number, else DEFAULT_RLIMIT."""
    value = os.environ.get("CAIC_SOLVER_RLIMIT", "").strip()
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**62 else DEFAULT_RLIMIT


class SolverUndecided(CaicError):
    """A query ran out of the solver's limit: neither proved nor refuted."""

    def __init__(self, query: "z3.BoolRef", limit: int):
        text = " ".join(str(query).split())
        self.query = text if len(text) <= 160 else text[:157] + "..."
        self.limit = limit
        super().__init__(f"the solver gave up after {limit} resource units (CAIC_SOLVER_RLIMIT) on: {self.query}")


class Encoder(Algebra):
    """Turns IR conditions into z3 formulas over the context's variables."""

    def __init__(self, context: Mapping[str, ContextVariable], primed: Iterable[str] = ()):
        """`primed` variables get a second, separate symbol (`name'`): an encoder
        of the second context of a pair that shares every other variable."""
        self.context = context
        self.symbols: dict[str, z3.ExprRef] = {}
        self.domain: list[z3.BoolRef] = []
        primed = set(primed)
        for name, var in context.items():
            symbol_name = name + "'" if name in primed else name
            if var.kind == "bool":
                self.symbols[name] = z3.Bool(symbol_name)
            else:
                symbol = z3.Int(symbol_name)
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
        self.limit = solver_rlimit()
        self.solver.set("rlimit", self.limit)
        self.solver.set("timeout", TIMEOUT_MS)
        self.solver.add(*self.encoder.domain)
        for assumption in assumptions:
            self.solver.add(self.encoder.encode(assumption))
        # Keyed by z3's hash-consed AST id; the query is kept alive with the
        # answer so its id cannot be reused by another formula.
        self._cache: dict[int, tuple[z3.BoolRef, Witness | None]] = {}

    def encode(self, cond: ir.Condition | None) -> z3.BoolRef:
        return self.encoder.encode(cond)

    def find(self, *formulas: z3.BoolRef) -> Witness | None:
        """A witness context where every formula holds, or None when there is none; SolverUndecided past the limit."""
        query = z3.And(*formulas) if formulas else z3.BoolVal(True)
        key = query.get_id()
        if key in self._cache:
            return self._cache[key][1]
        self.solver.push()
        self.solver.add(query)
        verdict = self.solver.check()
        result = self.encoder.witness(self.solver.model()) if verdict == z3.sat else None
        self.solver.pop()
        if verdict == z3.unknown:  # out of its limit: undecided, never a guess
            raise SolverUndecided(query, self.limit)
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


class PairSolver:
    """Pairs of contexts that agree on every variable outside `free` (section 9's
    "differ only in `by user` variables"), both within a deployment's assumptions.

    `first` and `second` encode a condition in each context of the pair; a
    model of a query gives both contexts, the witness pair."""

    def __init__(self, context: Mapping[str, ContextVariable], free: Iterable[str], assumptions: Iterable[ir.Condition] = ()):
        self.free = tuple(name for name in context if name in set(free))
        self.first = Encoder(context)
        self.second = Encoder(context, primed=self.free)
        self.solver = z3.Solver()
        self.limit = solver_rlimit()  # bounded like every other query
        self.solver.set("rlimit", self.limit)
        self.solver.set("timeout", TIMEOUT_MS)
        self.solver.add(*self.first.domain, *self.second.domain)
        for assumption in assumptions:
            self.solver.add(self.first.encode(assumption), self.second.encode(assumption))

    def find(self, *formulas: z3.BoolRef) -> tuple[Witness, Witness] | None:
        """Two contexts where every formula holds, or None when there are none."""
        self.solver.push()
        self.solver.add(*formulas)
        verdict = self.solver.check()
        model = self.solver.model() if verdict == z3.sat else None
        self.solver.pop()
        if verdict == z3.unknown:  # out of its limit: undecided, never a guess
            raise SolverUndecided(z3.And(*formulas) if formulas else z3.BoolVal(True), self.limit)
        return None if model is None else (self.first.witness(model), self.second.witness(model))
