"""The joint context of two versions of a constitution, for `caic diff`.

Variables are matched by name. A variable of one version only is
unconstrained in the other; one declared with another type in each version
becomes two variables (`name (old)`, `name (new)`); an enum ranges over the
values both versions declare, in the new version's order. Each version's
conditions are translated onto this joint schema: an order comparison
(`risk >= medium`, in that version's own order) becomes the set of joint
values it admits, so both versions are encoded by the checker's one
`Encoder` over the same symbols. `schema_changes` lists what changed.
"""

from __future__ import annotations

from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import COMPARISONS, Algebra, fold
from cai_lang.ir.model import ContextVariable


class JointContext:
    def __init__(self, old: dict[str, ContextVariable], new: dict[str, ContextVariable]):
        self.old, self.new = old, new
        self.variables: dict[str, ContextVariable] = {}
        self.names: dict[str, dict[str, str]] = {"old": {}, "new": {}}  # version -> its name -> joint name
        for name in list(new) + [n for n in old if n not in new]:
            here, there = new.get(name), old.get(name)
            if here is not None and there is not None and _compatible(here, there):
                values = tuple(v for v in here.values if v in there.values)
                self.variables[name] = here.model_copy(update={"values": values})
                self.names["old"][name] = self.names["new"][name] = name
                continue
            for version, var in (("old", there), ("new", here)):
                if var is None:
                    continue
                joint = name if (here is None or there is None) else f"{name} ({version})"
                self.variables[joint] = var.model_copy(update={"name": joint})
                self.names[version][name] = joint
        # The same schema in both versions: conditions need no translation.
        self.identity = {n: (v.kind, v.values) for n, v in old.items()} == {n: (v.kind, v.values) for n, v in new.items()}
        self._cache: dict[tuple[str, int], tuple[ir.Condition, ir.Condition]] = {}

    def translate(self, cond: ir.Condition | None, version: str) -> ir.Condition | None:
        """`cond`, written against `version`'s schema, over the joint variables."""
        if cond is None or self.identity:
            return cond
        key = (version, id(cond))
        if key not in self._cache:
            self._cache[key] = (cond, self._translate(cond, version))  # keeps `cond` alive, so its id stays its own
        return self._cache[key][1]

    def _translate(self, cond, version: str):
        return fold(cond, _Translate(self, version))


    def project(self, witness: dict | None, version: str) -> dict | None:
        """A joint witness as one version's context (its own variable names)."""
        if witness is None:
            return None
        return {name: witness[joint] for name, joint in self.names[version].items() if joint in witness}

    def schema_changes(self) -> list[tuple[str, str, object, object]]:
        """(variable, change, old, new) for every variable added, removed or retyped."""
        found = []
        for name in list(self.new) + [n for n in self.old if n not in self.new]:
            here, there = self.new.get(name), self.old.get(name)
            if there is None:
                found.append((name, "added", None, here.describe()))
            elif here is None:
                found.append((name, "removed", there.describe(), None))
            elif here.kind != there.kind:
                found.append((name, "type changed", there.describe(), here.describe()))
            elif here.values != there.values:
                gained = [v for v in here.values if v not in there.values]
                lost = [v for v in there.values if v not in here.values]
                what = "values " + ", ".join(p for p in (("added " + ", ".join(gained)) if gained else "", ("removed " + ", ".join(lost)) if lost else "") if p)
                found.append((name, what if (gained or lost) else "values reordered", there.describe(), here.describe()))
        return found


def _compatible(a: ContextVariable, b: ContextVariable) -> bool:
    if a.kind != b.kind:
        return False
    return a.kind == "bool" or any(v in b.values for v in a.values)


class _Translate(Algebra):
    """One version's condition rebuilt over the joint variables; composites keep their shape."""

    def __init__(self, joint: JointContext, version: str):
        self.joint, self.version = joint, version
        self.schema = joint.old if version == "old" else joint.new

    def const(self, node, value):
        return node

    def negate(self, node, operand):
        return ir.NotCond(span=node.span, operand=operand)

    def conjoin(self, node, operands):
        return ir.AndCond(span=node.span, operands=tuple(operands))

    def disjoin(self, node, operands):
        return ir.OrCond(span=node.span, operands=tuple(operands))

    def _name(self, node) -> tuple[ContextVariable, ir.Name]:
        var = self.schema[node.var.value]
        return var, ir.Name(span=node.var.span, value=self.joint.names[self.version][var.name])

    def var(self, node, name):
        return ir.VarCond(span=node.span, var=self._name(node)[1])

    def compare(self, node, name, op, value):
        var, joint = self._name(node)
        if var.kind == "bool":
            return node.model_copy(update={"var": joint})
        at = var.values.index(value)
        return self._admitting(node, joint, [v for v in self.joint.variables[joint.value].values if COMPARISONS[op](var.values.index(v), at)])

    def member(self, node, name, values):
        var, joint = self._name(node)
        if var.kind == "bool":
            return node.model_copy(update={"var": joint})
        return self._admitting(node, joint, [v for v in self.joint.variables[joint.value].values if v in values])

    @staticmethod
    def _admitting(node, joint: ir.Name, admitted: list[str]):
        if not admitted:
            return ir.BoolConst(span=node.span, value=False)
        return ir.InCond(span=node.span, var=joint, values=tuple(ir.Name(span=node.span, value=v) for v in admitted))
