"""What the editor paints from a check: semantic tokens, folding ranges and inlay hints.

Semantic tokens colour each name by what it denotes (principle, rule,
action, context variable, enum value, deployment, module alias), marking the
declaring occurrence and names from the standard library, which a TextMate
grammar cannot tell apart. Folding ranges are the multi-line declarations
and a deployment's blocks. Inlay hints show, after a principle's name, its
effective weight in each deployment (when one differs or none is written),
and after a rule's name, how its verdict resolves in the `default`
deployment, proved with the solver as `caic test` does (`check.verdict`):
the rules of the opposite verdict on its action that it yields to or
overrides in some context where both apply, `never decides` when one always
outranks it, `never applies` when no context lets it apply.
"""

from __future__ import annotations

from lsprotocol import types

from cai_lang.check import CheckResult
from cai_lang.ir import nodes as ir
from cai_lang.ir.model import DEFAULT_DEPLOYMENT
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.lsp import index
from cai_lang.lsp.hover import deployment_rows
from cai_lang.lsp.positions import LineIndex
from cai_lang.resources import stdlib_dir

TOKEN_TYPES = ["namespace", "class", "function", "event", "variable", "enumMember", "struct"]
TOKEN_MODIFIERS = ["declaration", "defaultLibrary"]
LEGEND = types.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS)
_KIND = {"action": "event", "variable": "variable", "value": "enumMember", "deployment": "struct", "module": "namespace"}


def semantic_tokens(result: CheckResult, path: str, lines: LineIndex) -> list[int]:
    """The LSP relative encoding: (delta line, delta start, length, type, modifiers) per token."""
    program, constitution = result.program, result.constitution
    stdlib = str(stdlib_dir().resolve())
    items = index.all_items(constitution) if constitution is not None else {}
    text = lines.text
    found: list[tuple[int, int, int, int]] = []  # start, end, type, modifiers
    for target in index.occurrences(program, path):
        start, end = target.span.start, target.span.end
        written = text[start:end]
        if target.kind == "module":
            if written.startswith('"'):
                continue  # a path string: the grammar already colours strings
            kind = "namespace"
        elif target.kind == "item":
            item = items.get(target.key)
            if item is None:
                continue
            kind = "class" if isinstance(item.node, ir.Principle) else "function"
        else:
            kind = _KIND[target.kind]
        modifiers = 0
        declared = index.declaration_of(target, program, constitution)
        if declared is not None and declared[0] == path and declared[1].start == start:
            modifiers |= 1
        if declared is not None and declared[0].startswith(stdlib):
            modifiers |= 2
        dot = written.rfind(".") if target.kind != "module" else -1
        if dot > 0:  # `alias.name`: the alias is a namespace
            found.append((start, start + dot, TOKEN_TYPES.index("namespace"), 0))
            start += dot + 1
        found.append((start, end, TOKEN_TYPES.index(kind), modifiers))
    data: list[int] = []
    previous_line = previous_char = 0
    for start, end, kind, modifiers in sorted(set(found)):
        begin, finish = lines.position(start), lines.position(end)
        if finish.line != begin.line:
            continue
        delta_line = begin.line - previous_line
        delta_char = begin.character - (previous_char if delta_line == 0 else 0)
        data += [delta_line, delta_char, finish.character - begin.character, kind, modifiers]
        previous_line, previous_char = begin.line, begin.character
    return data


def folding_ranges(module: ir.Module, lines: LineIndex) -> list[types.FoldingRange]:
    found = []

    def fold(node) -> None:
        first, last = lines.position(node.span.start).line, lines.position(node.span.end).line
        if last > first:
            found.append(types.FoldingRange(start_line=first, end_line=last, kind=types.FoldingRangeKind.Region))

    for declaration in module.declarations:
        fold(declaration)
        if isinstance(declaration, ir.Deployment):
            for item in declaration.items:
                fold(item)
    return found


def inlay_hints(result: CheckResult, path: str, lines: LineIndex, wanted: types.Range) -> list[types.InlayHint]:
    constitution = result.constitution
    if constitution is None:
        return []
    program = result.program
    items = index.all_items(constitution)
    default = _default_order(constitution)
    hints = []
    for target in index.occurrences(program, path):
        if target.kind != "item" or target.key not in items:
            continue
        declared = index.declaration_of(target, program, constitution)
        if declared is None or declared[0] != path or declared[1].start != target.span.start:
            continue  # hints go on declarations only
        position = lines.position(target.span.end)
        if not (wanted.start.line <= position.line <= wanted.end.line):
            continue
        item = items[target.key]
        if isinstance(item.node, ir.Principle):
            label = _weights(constitution, item)
        else:
            label = _verdict(item, default)
        if label:
            hints.append(types.InlayHint(position=position, label=label, kind=types.InlayHintKind.Type, padding_left=True))
    return hints


def _weights(constitution, item) -> str | None:
    rows = [(name, weight) for name, weight, _tier in deployment_rows(constitution, item.id)]
    values = {weight for _name, weight in rows}
    if item.node.weight is not None and len(values) <= 1:
        return None  # the written weight is the weight everywhere
    if len(values) == 1:
        return f"weight {rows[0][1]}"
    return "weight " + " · ".join(f"{name} {weight}" for name, weight in rows)


def _default_order(constitution):
    """The `default` deployment's semantics (check.verdict), with its solver and priority graph."""
    from cai_lang.check.verdict import Semantics
    from cai_lang.check.view import DeploymentView

    try:
        view = DeploymentView(constitution, resolve_deployment(constitution, DEFAULT_DEPLOYMENT))
    except KeyError:
        return None
    return view, Semantics(view.deployment, view.solver.encode, view.graph)


def _verdict(rule, default) -> str | None:
    """How the rule's verdict resolves in `default`: the opposite rules on its action that
    outrank it (or that it outranks) in some context where both apply, and whether it ever
    decides at all."""
    if default is None or rule.action is None or rule.node.verdict is None:
        return None
    view, semantics = default
    if rule.id not in semantics.items:
        return "disabled in default"
    solver = view.solver
    mine = semantics.applies(rule.id)
    if not solver.satisfiable(mine):
        return "never applies in default"
    opposite = [r for r in semantics.rules_on.get(rule.action, []) if r.node.verdict != rule.node.verdict]
    together = {r.id: solver.all_of(mine, semantics.applies(r.id)) for r in opposite}
    yields = sorted(r.id for r in opposite if view.graph.outranks(r.id, rule.id) and solver.satisfiable(together[r.id]))
    overrides = sorted(r.id for r in opposite if view.graph.outranks(rule.id, r.id) and solver.satisfiable(together[r.id]))
    if yields and not solver.satisfiable(mine, *[solver.negate(semantics.applies(i)) for i in yields]):
        return "never decides: " + ", ".join(f"`{i}`" for i in yields) + " always outranks it"
    parts = [f"yields to `{i}`" for i in yields] + [f"overrides `{i}`" for i in overrides]
    return (", ".join(parts) + " where both apply") if parts else None
