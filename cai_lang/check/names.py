"""Name resolution: binding every reference and building the `Constitution` model.

Each module gets an id prefix from the alias path by which the root first
reaches it (`""` for the root, `harmless.` for `import std.harmless`), so a
module imported twice is still one set of items. References resolve in the
scope of the module that contains them: local names, or `alias.name` for a
module that module imports; inside a deployment, the principles and rules
added by it and by the deployments it extends come first. Unknown names are
E101 with a "did you mean" help, duplicates E102, context variables declared
twice with different types E106, and extends cycles E207.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.fixes import suggestion
from cai_lang.diagnostics.model import Diagnostic, Related
from cai_lang.ir import nodes as ir
from cai_lang.ir.model import (
    DEFAULT_DEPLOYMENT,
    ActionDef,
    ClauseDef,
    ConflictDef,
    Constitution,
    ContextVariable,
    DeploymentDef,
    PrincipleDef,
    PriorityDef,
    RuleDef,
)
from cai_lang.ir.program import Program

_ITEM = "principle or rule"


@dataclass
class _Scope:
    """What one module's references can see."""

    prefix: str
    items: dict[str, str] = field(default_factory=dict)  # local principle/rule name -> id
    item_spans: dict[str, ir.Name] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> module path
    unresolved: set[str] = field(default_factory=set)  # aliases of imports that failed (already E103/E104/E105)


@dataclass
class AliasPaths:
    """How the root names every module it reaches: the id prefix of each module's
    items, each module's import aliases, and imports that reuse an alias."""

    prefix: dict[str, str]
    aliases: dict[str, dict[str, str]]
    repeated: list[ir.Import]
    unresolved: dict[str, set[str]] = field(default_factory=dict)


def alias_paths(program: Program) -> AliasPaths:
    """Breadth first from the root, so each module gets its shortest alias path
    (`""` for the root, `harmless.` for `import std.harmless`)."""
    result = AliasPaths(prefix={program.root: ""}, aliases={}, repeated=[])
    queue = deque([program.root])
    while queue:
        path = queue.popleft()
        aliases = result.aliases.setdefault(path, {})
        for node, target in program.imports.get(path, []):
            if node.alias_name in aliases:
                result.repeated.append(node)
                continue
            if target is None:
                result.unresolved.setdefault(path, set()).add(node.alias_name)
                continue
            aliases[node.alias_name] = target
            if target not in result.prefix:
                result.prefix[target] = f"{result.prefix[path]}{node.alias_name}."
                queue.append(target)
    return result


class _Resolver:
    def __init__(self, program: Program):
        self.program = program
        self.diagnostics: list[Diagnostic] = []
        self.scopes: dict[str, _Scope] = {}
        self.kinds: dict[str, str] = {}  # id -> "principle" | "rule"
        self.principles: dict[str, PrincipleDef] = {}
        self.rules: dict[str, RuleDef] = {}
        self.actions: dict[str, ActionDef] = {}
        self.context: dict[str, ContextVariable] = {}
        self.rule_nodes: dict[str, ir.Rule] = {}

    # ------------------------------------------------------------ module order and scopes
    def module_order(self) -> list[str]:
        """Modules in the order the root reaches them, each with its alias prefix."""
        paths = alias_paths(self.program)
        for path, prefix in paths.prefix.items():
            self.scopes[path] = _Scope(prefix=prefix, aliases=paths.aliases.get(path, {}), unresolved=paths.unresolved.get(path, set()))
        for node in paths.repeated:
            span = node.alias.span if node.alias is not None else node.target_span
            self.diagnostics.append(msg.DUPLICATE.at(span, kind="import alias", name=node.alias_name, help="give one of the imports another name with `as`"))
        return list(paths.prefix)

    def declare_item(self, scope: _Scope, name: ir.Name, kind: str, extra: dict[str, str] | None = None) -> str | None:
        visible = extra if extra is not None else scope.items
        if name.value in visible or (extra is not None and name.value in scope.items):
            first = scope.item_spans.get(name.value)
            first_kind = self.kinds.get(visible.get(name.value) or scope.items.get(name.value) or "", kind)
            if first_kind != kind:  # a principle named like a rule: say what the first one is
                related = [Related(span=first.span, message=f"{first_kind} `{name.value}` is defined here")] if first is not None else []
                self.diagnostics.append(msg.NAME_TAKEN.at(name.span, kind=kind, name=name.value, other=first_kind, related=related))
                return None
            related = [Related(span=first.span, message="first defined here")] if first is not None else []
            self.diagnostics.append(msg.DUPLICATE.at(name.span, kind=kind, name=name.value, related=related))
            return None
        item_id = scope.prefix + name.value
        visible[name.value] = item_id
        scope.item_spans.setdefault(name.value, name)
        self.kinds[item_id] = kind
        return item_id

    def collect(self, path: str) -> None:
        module = self.program.modules[path]
        scope = self.scopes[path]
        seen_vars: dict[str, ir.ContextVar] = {}
        for declaration in module.declarations:
            if isinstance(declaration, ir.ContextBlock):
                for var in declaration.variables:
                    self.declare_variable(var, seen_vars)
            elif isinstance(declaration, ir.Action):
                if declaration.name.value in scope.actions:
                    self.diagnostics.append(msg.DUPLICATE.at(declaration.name.span, kind="action", name=declaration.name.value))
                    continue
                action_id = scope.prefix + declaration.name.value
                scope.actions[declaration.name.value] = action_id
                text = declaration.text.value if declaration.text is not None else declaration.name.value.replace("_", " ")
                self.actions[action_id] = ActionDef(id=action_id, text=text, span=declaration.name.span)
            elif isinstance(declaration, ir.Principle):
                item_id = self.declare_item(scope, declaration.name, "principle")
                if item_id is not None:
                    self.principles[item_id] = PrincipleDef(id=item_id, node=declaration)
            elif isinstance(declaration, ir.Rule):
                item_id = self.declare_item(scope, declaration.name, "rule")
                if item_id is not None:
                    self.rules[item_id] = RuleDef(id=item_id, node=declaration)

    def declare_variable(self, var: ir.ContextVar, seen_in_module: dict[str, ir.ContextVar]) -> None:
        name = var.name.value
        meaning = {"description": var.description.value if var.description is not None else None, "set_by": var.set_by}
        if isinstance(var.type, ir.BoolType):
            declared = ContextVariable(name=name, kind="bool", span=var.name.span, **meaning)
        else:
            declared = ContextVariable(name=name, kind="enum", values=tuple(v.value for v in var.type.values), span=var.name.span, **meaning)
        if name in seen_in_module:
            self.diagnostics.append(
                msg.DUPLICATE.at(var.name.span, kind="context variable", name=name, related=[Related(span=seen_in_module[name].name.span, message="first declared here")])
            )
            return
        seen_in_module[name] = var
        existing = self.context.get(name)
        if existing is None:
            self.context[name] = declared
        elif (existing.kind, existing.values) == (declared.kind, declared.values):
            # The same variable from two modules: the nearest description wins;
            # if either lets the user set it, the user can (the stricter reading).
            update = {"description": existing.description or declared.description}
            if declared.set_by == "user":
                update["set_by"] = "user"
            self.context[name] = existing.model_copy(update=update)
        elif (existing.kind, existing.values) != (declared.kind, declared.values):
            # Modules are collected nearest the root first, so `existing` is the
            # declaration the user wrote (or the one their file reaches first):
            # the finding belongs there, with a note into the module it clashes with.
            self.diagnostics.append(
                msg.CONTEXT_TYPE_CLASH.at(
                    existing.span,
                    name=name,
                    this=existing.describe(),
                    other=declared.describe(),
                    where=f"in {declared.span.file}",
                    related=[Related(span=var.name.span, message=f"declared as {declared.describe()} here")],
                    help="use the imported declaration (drop yours, or declare the same values in the same order), or rename your variable",
                )
            )

    # ------------------------------------------------------------ references
    def lookup(self, ref: ir.Ref, path: str, extra: dict[str, str] | None = None, what: str = _ITEM) -> str | None:
        scope = self.scopes[path]
        table_of = (lambda s: s.actions) if what == "action" else (lambda s: s.items)
        if ref.module is not None:
            target = scope.aliases.get(ref.module)
            if target is None:
                if ref.module in scope.unresolved:
                    return None  # the failed import is the one finding; names through it are not errors too
                help, fix = suggestion(ref.module, scope.aliases, ref.span, "{}." + ref.name)
                self.diagnostics.append(msg.UNKNOWN_MODULE.at(ref.span, alias=ref.module, ref=str(ref), help=help or "import the module first", fixes=[fix]))
                return None
            found = table_of(self.scopes[target]).get(ref.name)
            if found is None:
                names = [f"{ref.module}.{n}" for n in table_of(self.scopes[target])]
                help, fix = suggestion(str(ref), names, ref.span)
                self.diagnostics.append(msg.UNKNOWN_REFERENCE.at(ref.span, kind=what, name=str(ref), help=help, fixes=[fix]))
            return found
        if extra and ref.name in extra and what != "action":
            return extra[ref.name]
        found = table_of(scope).get(ref.name)
        if found is None:
            candidates = list(table_of(scope)) + list(extra or ())
            for alias, target in scope.aliases.items():
                candidates += [f"{alias}.{n}" for n in table_of(self.scopes[target])]
            help, fix = suggestion(ref.name, candidates, ref.span)
            self.diagnostics.append(msg.UNKNOWN_REFERENCE.at(ref.span, kind=what, name=str(ref), help=help, fixes=[fix]))
        return found

    def rule_def(self, rule_id: str, node: ir.Rule, path: str, origin: str) -> RuleDef:
        action = self.lookup(node.action, path, what="action") if node.action is not None else None
        self.rule_nodes[rule_id] = node
        return RuleDef(id=rule_id, node=node, action=action, origin=origin)

    def priority_def(self, node: ir.Priority, path: str, extra=None, origin=DEFAULT_DEPLOYMENT) -> PriorityDef | None:
        ids = [self.lookup(member, path, extra) for member in node.members]
        if any(i is None for i in ids):
            return None
        return PriorityDef(members=tuple(ids), spans=tuple(m.span for m in node.members), node=node, origin=origin)

    def conflict_def(self, node: ir.Conflict, path: str, extra=None, origin=DEFAULT_DEPLOYMENT) -> ConflictDef | None:
        left = self.lookup(node.left, path, extra)
        right = self.lookup(node.right, path, extra)
        if left is not None and left == right:
            self.diagnostics.append(msg.SAME_SIDES.at(node.right.span, side=str(node.right)))
            return None
        clauses = []
        otherwise = 0
        for clause in node.clauses:
            if clause.condition is None:
                otherwise += 1
                if otherwise == 2:
                    self.diagnostics.append(msg.MANY_OTHERWISE.at(clause.span))
            side = self.lookup(clause.side, path, extra)
            if side is None:
                continue
            if left is not None and right is not None and side not in (left, right):
                self.diagnostics.append(msg.BAD_SIDE.at(clause.side.span, side=str(clause.side), left=str(node.left), right=str(node.right)))
                continue
            clauses.append(ClauseDef(side=side, condition=clause.condition, node=clause))
        if left is None or right is None:
            return None
        return ConflictDef(left=left, right=right, clauses=tuple(clauses), node=node, origin=origin)

    # ------------------------------------------------------------ deployments
    def deployments(self) -> dict[str, DeploymentDef]:
        root = self.program.root
        module = self.program.modules[root]
        declared: dict[str, ir.Deployment] = {}
        for node in module.of_type(ir.Deployment):
            name = node.name.value
            if name in declared or name == DEFAULT_DEPLOYMENT:
                first = declared.get(name)
                related = [Related(span=first.name.span, message="first defined here")] if first else []
                self.diagnostics.append(msg.DUPLICATE.at(node.name.span, kind="deployment", name=name, related=related))
                continue
            declared[name] = node

        parents: dict[str, str] = {}
        for name, node in declared.items():
            parent = node.extends.value if node.extends is not None else DEFAULT_DEPLOYMENT
            if parent != DEFAULT_DEPLOYMENT and parent not in declared:
                help, fix = suggestion(parent, list(declared) + [DEFAULT_DEPLOYMENT], node.extends.span)
                self.diagnostics.append(msg.UNKNOWN_REFERENCE.at(node.extends.span, kind="deployment", name=parent, help=help, fixes=[fix]))
                parent = DEFAULT_DEPLOYMENT
            parents[name] = parent
        self.break_cycles(declared, parents)

        result: dict[str, DeploymentDef] = {DEFAULT_DEPLOYMENT: DeploymentDef(name=DEFAULT_DEPLOYMENT)}
        visible: dict[str, dict[str, str]] = {DEFAULT_DEPLOYMENT: {}}

        def build(name: str) -> None:
            if name in result:
                return
            build(parents[name])
            extra = dict(visible[parents[name]])
            result[name] = self.deployment_def(declared[name], parents[name], extra)
            visible[name] = extra

        for name in declared:
            build(name)
        # Keep declaration order (default first), whatever order they were built in.
        return {DEFAULT_DEPLOYMENT: result[DEFAULT_DEPLOYMENT], **{n: result[n] for n in declared}}

    def break_cycles(self, declared: dict[str, ir.Deployment], parents: dict[str, str]) -> None:
        for name in declared:
            path = [name]
            current = parents[name]
            while current != DEFAULT_DEPLOYMENT and current not in path:
                path.append(current)
                current = parents[current]
            if current == name:
                node = declared[name]
                cycle = " -> ".join(path + [name])
                self.diagnostics.append(msg.EXTENDS_CYCLE.at(node.extends.span, cycle=cycle))
                parents[name] = DEFAULT_DEPLOYMENT

    def deployment_def(self, node: ir.Deployment, parent: str, extra: dict[str, str]) -> DeploymentDef:
        root = self.program.root
        scope = self.scopes[root]
        name = node.name.value
        added_principles, added_rules = [], []
        for item in node.items:
            if isinstance(item, (ir.Principle, ir.Rule)):
                kind = "principle" if isinstance(item, ir.Principle) else "rule"
                item_id = self.declare_item(scope, item.name, kind, extra=extra)
                if item_id is None:
                    continue
                if isinstance(item, ir.Principle):
                    added_principles.append(PrincipleDef(id=item_id, node=item, origin=name))
                else:
                    added_rules.append(self.rule_def(item_id, item, root, name))
        assumptions, disabled, enabled, priorities, conflicts = [], [], [], [], []
        weights, weight_spans, disable_spans = {}, {}, {}
        for item in node.items:
            if isinstance(item, ir.Assume):
                assumptions.append(item.condition)
            elif isinstance(item, (ir.Disable, ir.Enable)):
                target = self.lookup(item.target, root, extra)
                if target is not None:
                    (disabled if isinstance(item, ir.Disable) else enabled).append(target)
                    if isinstance(item, ir.Disable):
                        disable_spans[target] = item.span
            elif isinstance(item, ir.WeightOverride):
                target = self.lookup(item.target, root, extra)
                if target is not None and self.kinds.get(target) == "rule" and self.rule_nodes.get(target) is not None and self.rule_nodes[target].hard:
                    weight_spans[target] = item.span  # E209, reported by the authority pass
                elif target is not None and self.kinds.get(target) != "principle":
                    self.diagnostics.append(msg.WEIGHT_NOT_PRINCIPLE.at(item.target.span, name=str(item.target), kind=self.kinds.get(target, "item")))
                elif target is not None:
                    weights[target] = item.weight.value
                    weight_spans[target] = item.span
            elif isinstance(item, ir.Priority):
                definition = self.priority_def(item, root, extra, origin=name)
                if definition is not None:
                    priorities.append(definition)
            elif isinstance(item, ir.Conflict):
                definition = self.conflict_def(item, root, extra, origin=name)
                if definition is not None:
                    conflicts.append(definition)
        return DeploymentDef(
            name=name,
            extends=parent,
            node=node,
            assumptions=tuple(assumptions),
            weights=weights,
            weight_spans=weight_spans,
            disable_spans=disable_spans,
            disabled=tuple(disabled),
            enabled=tuple(enabled),
            principles=tuple(added_principles),
            rules=tuple(added_rules),
            priorities=tuple(priorities),
            conflicts=tuple(conflicts),
        )

    # ------------------------------------------------------------ all together
    def run(self) -> Constitution:
        order = self.module_order()
        for path in order:
            self.collect(path)
        priorities, conflicts = [], []
        for path in order:
            module = self.program.modules[path]
            for declaration in module.declarations:
                if isinstance(declaration, ir.Rule):
                    rule_id = self.scopes[path].items.get(declaration.name.value)
                    if rule_id in self.rules and self.rules[rule_id].node is declaration:
                        self.rules[rule_id] = self.rule_def(rule_id, declaration, path, DEFAULT_DEPLOYMENT)
                elif isinstance(declaration, ir.Priority):
                    definition = self.priority_def(declaration, path)
                    if definition is not None:
                        priorities.append(definition)
                elif isinstance(declaration, ir.Conflict):
                    definition = self.conflict_def(declaration, path)
                    if definition is not None:
                        conflicts.append(definition)
        deployments = self.deployments()
        root = self.program.root_module
        header = root.header
        return Constitution(
            name=header.name.value if header is not None else Path(root.path).stem,
            version=header.version.value if header is not None and header.version is not None else None,
            description=header.description.value if header is not None and header.description is not None else None,
            phase=header.phase.value if header is not None and header.phase is not None and header.phase.value in ("sl", "rl") else None,
            root=self.program.root,
            anchor=header.name.span if header is not None else self.program.sources[self.program.root].span(0, 0),
            context=self.context,
            actions=self.actions,
            principles=self.principles,
            rules=self.rules,
            priorities=tuple(priorities),
            conflicts=tuple(conflicts),
            deployments=deployments,
            examples=tuple(d for path in order for d in self.program.modules[path].declarations if isinstance(d, ir.Example)),
            comparisons=tuple(d for path in order for d in self.program.modules[path].declarations if isinstance(d, ir.Comparison)),
        )


def resolve(program: Program) -> tuple[Constitution, list[Diagnostic]]:
    resolver = _Resolver(program)
    constitution = resolver.run()
    return constitution, resolver.diagnostics
