"""Document symbols: the outline of one file, from its (possibly partial) parse.

The outline is built from the IR of the current text, not from a check, so
it still shows the declarations the parser salvaged around a syntax error.
Principles and rules nest their examples, context blocks their variables,
and deployments what they declare or change.
"""

from __future__ import annotations

from lsprotocol import types

from cai_lang.ir import nodes as ir
from cai_lang.lsp.positions import LineIndex
from cai_lang.syntax.printer import print_condition

K = types.SymbolKind


def _symbol(index: LineIndex, name: str, kind: types.SymbolKind, node: ir.Node, selection: ir.Node | None = None, detail: str | None = None, children=None) -> types.DocumentSymbol:
    chosen = selection if selection is not None else node
    return types.DocumentSymbol(
        name=name or "?",
        kind=kind,
        range=index.range(node.span.start, node.span.end),
        selection_range=index.range(chosen.span.start, chosen.span.end),
        detail=detail,
        children=children or None,
    )


def _principle(index: LineIndex, node: ir.Principle) -> types.DocumentSymbol:
    examples = [_symbol(index, f"example {i + 1}", K.Object, e) for i, e in enumerate(node.examples)]
    detail = node.description.value if node.description is not None else None
    return _symbol(index, node.name.value, K.Class, node, node.name, detail, examples)


def _rule(index: LineIndex, node: ir.Rule) -> types.DocumentSymbol:
    detail = None
    if node.verdict is not None and node.action is not None:
        detail = f"{node.verdict} {node.action}"
        if node.guard is not None and node.condition is not None:
            detail += f" {node.guard} {print_condition(node.condition)}"
    return _symbol(index, node.name.value, K.Interface, node, node.name, detail)


def _declaration(index: LineIndex, node) -> types.DocumentSymbol | None:
    if isinstance(node, ir.ContextBlock):
        variables = [
            _symbol(index, v.name.value, K.Variable, v, v.name, "bool" if isinstance(v.type, ir.BoolType) else " | ".join(x.value for x in v.type.values))
            for v in node.variables
        ]
        return _symbol(index, "context", K.Namespace, node, children=variables)
    if isinstance(node, ir.Action):
        return _symbol(index, node.name.value, K.Function, node, node.name, node.text.value if node.text is not None else None)
    if isinstance(node, ir.Principle):
        return _principle(index, node)
    if isinstance(node, ir.Rule):
        return _rule(index, node)
    if isinstance(node, ir.Priority):
        return _symbol(index, "priority " + " > ".join(str(m) for m in node.members), K.Operator, node)
    if isinstance(node, ir.Conflict):
        return _symbol(index, f"conflict {node.left} vs {node.right}", K.Event, node)
    if isinstance(node, ir.Deployment):
        children = []
        for item in node.items:
            if isinstance(item, ir.Assume):
                children.append(_symbol(index, "assume " + print_condition(item.condition), K.Property, item))
            elif isinstance(item, ir.WeightOverride):
                children.append(_symbol(index, f"weight {item.target} {item.weight.text}", K.Property, item))
            elif isinstance(item, (ir.Disable, ir.Enable)):
                word = "disable" if isinstance(item, ir.Disable) else "enable"
                children.append(_symbol(index, f"{word} {item.target}", K.Property, item))
            else:
                child = _declaration(index, item)
                if child is not None:
                    children.append(child)
        detail = f"extends {node.extends.value}" if node.extends is not None else None
        return _symbol(index, node.name.value, K.Module, node, node.name, detail, children)
    if isinstance(node, ir.Test):
        return _symbol(index, node.name.value, K.Method, node, node.name, "test")
    return None


def document_symbols(module: ir.Module, index: LineIndex) -> list[types.DocumentSymbol]:
    symbols = []
    if module.header is not None:
        header = module.header
        detail = header.version.value if header.version is not None else None
        symbols.append(_symbol(index, header.name.value, K.File, header, header.name, detail))
    for node in module.imports:
        symbols.append(_symbol(index, f"import {node.target}", K.Package, node, detail=f"as {node.alias_name}"))
    for node in module.declarations:
        symbol = _declaration(index, node)
        if symbol is not None:
            symbols.append(symbol)
    return symbols
