"""What each name in a file denotes, and where that thing is declared.

`occurrences` lists every name in one module of a checked program with what
it refers to: a principle, rule or action (by its qualified id), a context
variable or one of its values, a deployment, or an imported module. Hover,
go-to-definition and completion all start here, so they agree on what a
name means. Qualified ids follow the checker's rule (`cai_lang.check.names`):
a module's items are prefixed by the alias path through which the root
first reaches it, breadth first, and a second import under an alias already
taken is not followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from cai_lang.check.names import alias_paths
from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import Leaves, fold
from cai_lang.ir.model import Constitution, PrincipleDef, RuleDef
from cai_lang.ir.program import Program
from cai_lang.span import Span


@dataclass(frozen=True)
class Target:
    kind: str  # "item" (principle or rule), "action", "variable", "value", "deployment", "module"
    key: str  # item or action id, variable name, deployment name, or module path
    span: Span  # the name as written at this occurrence
    value: str | None = None  # for "value": the enum value


class Scopes:
    """Module prefixes and import aliases of a program, as the name checker sees them."""

    def __init__(self, program: Program):
        self.program = program
        paths = alias_paths(program)  # the name checker's own rule, so the two cannot drift
        self.prefix: dict[str, str] = paths.prefix
        self.aliases: dict[str, dict[str, str]] = paths.aliases

    def item_id(self, ref: ir.Ref, path: str) -> str | None:
        if path not in self.prefix:
            return None
        if ref.module is None:
            return self.prefix[path] + ref.name
        target = self.aliases.get(path, {}).get(ref.module)
        return self.prefix[target] + ref.name if target is not None else None

    def local_id(self, name: ir.Name, path: str) -> str | None:
        return self.prefix[path] + name.value if path in self.prefix else None


def all_items(constitution: Constitution) -> dict[str, PrincipleDef | RuleDef]:
    """Every principle and rule by id, those that deployments add included."""
    found: dict[str, PrincipleDef | RuleDef] = {**constitution.principles, **constitution.rules}
    for deployment in constitution.deployments.values():
        for item in (*deployment.principles, *deployment.rules):
            found.setdefault(item.id, item)
    return found


def occurrences(program: Program, path: str) -> list[Target]:
    """Every name of the module at `path` and what it refers to, in source order."""
    module = program.modules.get(path)
    if module is None:
        return []
    scopes = Scopes(program)
    found: list[Target] = []
    resolved = {id(node): target for node, target in program.imports.get(path, [])}
    for node in module.imports:
        target = resolved.get(id(node))
        if target is not None:
            found.append(Target("module", target, node.target_span))
            if node.alias is not None:
                found.append(Target("module", target, node.alias.span))
    for declaration in module.declarations:
        found.extend(_declaration(declaration, path, scopes))
    found.sort(key=lambda t: t.span.start)
    return found


def target_at(program: Program, path: str, offset: int) -> Target | None:
    """The name at a character offset (the cursor may also sit just after it)."""
    best = None
    for target in occurrences(program, path):
        if target.span.start <= offset <= target.span.end:
            if best is None or target.span.end - target.span.start < best.span.end - best.span.start:
                best = target
    return best


def _ref(ref: ir.Ref, path: str, scopes: Scopes, kind: str = "item") -> Iterator[Target]:
    item_id = scopes.item_id(ref, path)
    if item_id is not None:
        yield Target(kind, item_id, ref.span)


def _declaration(node, path: str, scopes: Scopes) -> Iterator[Target]:
    if isinstance(node, ir.ContextBlock):
        for var in node.variables:
            yield Target("variable", var.name.value, var.name.span)
            if isinstance(var.type, ir.EnumType):
                for value in var.type.values:
                    yield Target("value", var.name.value, value.span, value.value)
    elif isinstance(node, ir.Action):
        action_id = scopes.local_id(node.name, path)
        if action_id is not None:
            yield Target("action", action_id, node.name.span)
    elif isinstance(node, (ir.Principle, ir.Rule)):
        item_id = scopes.local_id(node.name, path)
        if item_id is not None:
            yield Target("item", item_id, node.name.span)
        if isinstance(node, ir.Principle):
            yield from _condition(node.applies)
        else:
            if node.action is not None:
                yield from _ref(node.action, path, scopes, "action")
            yield from _condition(node.condition)
    elif isinstance(node, ir.Priority):
        for member in node.members:
            yield from _ref(member, path, scopes)
    elif isinstance(node, ir.Conflict):
        yield from _ref(node.left, path, scopes)
        yield from _ref(node.right, path, scopes)
        for clause in node.clauses:
            yield from _ref(clause.side, path, scopes)
            yield from _condition(clause.condition)
    elif isinstance(node, ir.Deployment):
        yield Target("deployment", node.name.value, node.name.span)
        if node.extends is not None:
            yield Target("deployment", node.extends.value, node.extends.span)
        for item in node.items:
            if isinstance(item, ir.Assume):
                yield from _condition(item.condition)
            elif isinstance(item, (ir.WeightOverride, ir.Disable, ir.Enable)):
                yield from _ref(item.target, path, scopes)
            else:
                yield from _declaration(item, path, scopes)


class _Targets(Leaves):
    """The variables and values a condition names, each where it is written."""

    def var(self, node, name):
        return [Target("variable", name, node.var.span)]

    def compare(self, node, name, op, value):
        found = [Target("variable", name, node.var.span)]
        if value not in ("true", "false"):
            found.append(Target("value", name, node.value.span, value))
        return found

    def member(self, node, name, values):
        return [Target("variable", name, node.var.span)] + [Target("value", name, v.span, v.value) for v in node.values]


def _condition(condition) -> Iterator[Target]:
    if condition is not None:
        yield from fold(condition, _Targets())


def declaration_of(target: Target, program: Program, constitution: Constitution | None) -> tuple[str, Span] | None:
    """The file and name span that declare what `target` refers to."""
    paths = {source.display: path for path, source in program.sources.items()}

    def located(span: Span) -> tuple[str, Span] | None:
        path = paths.get(span.file)
        return (path, span) if path is not None else None

    if target.kind == "module":
        source = program.sources.get(target.key)
        return (target.key, source.span(0, 0)) if source is not None else None
    if constitution is None:
        return None
    if target.kind == "item":
        item = all_items(constitution).get(target.key)
        return located(item.node.name.span) if item is not None else None
    if target.kind == "action":
        action = constitution.actions.get(target.key)
        return located(action.span) if action is not None else None
    if target.kind == "variable":
        variable = constitution.context.get(target.key)
        return located(variable.span) if variable is not None else None
    if target.kind == "value":
        for path, module in program.modules.items():
            for block in module.of_type(ir.ContextBlock):
                for var in block.variables:
                    if var.name.value == target.key and isinstance(var.type, ir.EnumType):
                        for value in var.type.values:
                            if value.value == target.value:
                                return path, value.span
        return None
    if target.kind == "deployment":
        deployment = constitution.deployments.get(target.key)
        if deployment is not None and deployment.node is not None:
            return located(deployment.node.name.span)
    return None
