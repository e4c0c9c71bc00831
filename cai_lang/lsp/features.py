"""The requests beyond diagnostics, hover and completion: references, rename, quick fixes,
semantic tokens, folding, inlay hints and workspace symbols, registered on the server.

References and rename look at every program the server can see: the open
documents' latest checks and, for the workspace's other `.const` files, a
names-only pass (parse and bind; no solver), so renaming a principle of an
imported file also rewrites the files that import it. Up to `MAX_FILES`
files are read, skipping hidden folders, `node_modules` and virtual
environments.
"""

from __future__ import annotations

import os
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from cai_lang.check import CheckResult
from cai_lang.check.names import resolve
from cai_lang.ir import nodes as ir
from cai_lang.lsp import actions, decorations, navigation
from cai_lang.lsp.positions import path_of, span_range
from cai_lang.syntax.loader import load_program

MAX_FILES = 1000
REQUEST_FAILED = -32803  # the LSP error code for a request the server refuses
_SKIP = {"node_modules", "__pycache__", "venv", ".venv"}


def workspace_files(roots: list[str]) -> list[str]:
    found: list[str] = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP)
            found += [str(Path(folder, f).resolve()) for f in sorted(files) if f.endswith(".const")]
            if len(found) >= MAX_FILES:
                return found[:MAX_FILES]
    return found


def programs(ls, uri: str) -> list[CheckResult]:
    """The checks to search: this document's first, then the other open ones, then files on disk."""
    results: list[CheckResult] = []
    seen: set[str] = set()
    for other in [uri] + [u for u in list(ls.workspace.text_documents) if u != uri]:
        result, good = ls.latest(other)
        chosen = good or result
        if chosen is not None:
            results.append(chosen)
            seen.add(ls.path_for(other))
    roots = [p for p in (path_of(f.uri) for f in ls.workspace.folders.values()) if p]
    overlays = ls.overlays()
    for path in workspace_files(roots):
        if path in seen:
            continue
        try:
            program = load_program(path, cache=ls.cache_for(path), overlays=overlays)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        constitution = None if program.has_syntax_errors else resolve(program)[0]
        results.append(CheckResult(program=program, constitution=constitution))
    return results


def _location(ls, path: str, start: int, end: int, result: CheckResult) -> types.Location:
    source = result.program.sources[path]
    return types.Location(uri=ls.uri_for(path), range=span_range(source.span(start, end), source, ls.encoding))


def _target(ls, params):
    uri = params.text_document.uri
    lines = ls.lines(uri)
    result, good = ls.latest(uri)
    chosen = good or result
    if chosen is None:
        return None
    found = navigation.declaration(chosen, ls.path_for(uri), lines.offset(params.position))
    return (chosen, *found) if found is not None else None


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def on_references(ls, params: types.ReferenceParams) -> list[types.Location]:
        found = _target(ls, params)
        if found is None:
            return []
        result, _target_, declared = found
        results = programs(ls, params.text_document.uri)
        out = []
        for place in navigation.places(declared, results):
            if not params.context.include_declaration and (place.path, place.span.start) == declared:
                continue
            owner = next(r for r in results if place.path in r.program.sources)
            out.append(_location(ls, place.path, place.span.start, place.span.end, owner))
        return out

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def on_prepare_rename(ls, params: types.PrepareRenameParams):
        found = _target(ls, params)
        if found is None:
            return None
        result, target, declared = found
        reason = navigation.refuse_reason(target, declared)
        if reason is not None:
            raise JsonRpcException(reason, code=REQUEST_FAILED)
        path = ls.path_for(params.text_document.uri)
        place = navigation.Place(path, target.span, result.program.sources[path].text)
        start, end = navigation.name_part(place)
        return types.PrepareRenamePlaceholder(range=_location(ls, path, start, end, result).range, placeholder=place.text[start:end])

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def on_rename(ls, params: types.RenameParams) -> types.WorkspaceEdit | None:
        found = _target(ls, params)
        if found is None:
            return None
        _result, target, declared = found
        results = programs(ls, params.text_document.uri)
        try:
            edits = navigation.rename_edits(target, declared, results, params.new_name)
        except navigation.CannotRename as refused:
            raise JsonRpcException(str(refused), code=REQUEST_FAILED) from None
        changes: dict[str, list[types.TextEdit]] = {}
        for path, spans in edits.items():
            owner = next(r for r in results if path in r.program.sources)
            for start, end, text in spans:
                rng = _location(ls, path, start, end, owner).range
                changes.setdefault(ls.uri_for(path), []).append(types.TextEdit(range=rng, new_text=text))
        return types.WorkspaceEdit(changes=changes)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def on_code_action(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        result, _good = ls.latest(uri)
        if result is None:
            return []
        return actions.code_actions(result, ls.path_for(uri), params.range, ls.uri_for, ls.encoding)

    @server.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, decorations.LEGEND)
    def on_semantic_tokens(ls, params: types.SemanticTokensParams) -> types.SemanticTokens:
        uri = params.text_document.uri
        result, good = ls.latest(uri)
        chosen = good or result
        if chosen is None or ls.path_for(uri) not in chosen.program.modules:
            return types.SemanticTokens(data=[])
        return types.SemanticTokens(data=decorations.semantic_tokens(chosen, ls.path_for(uri), ls.lines(uri)))

    @server.feature(types.TEXT_DOCUMENT_FOLDING_RANGE)
    def on_folding(ls, params: types.FoldingRangeParams) -> list[types.FoldingRange]:
        uri = params.text_document.uri
        result, _good = ls.latest(uri)
        module = result.program.modules.get(ls.path_for(uri)) if result is not None else None
        return decorations.folding_ranges(module, ls.lines(uri)) if module is not None else []

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def on_inlay_hints(ls, params: types.InlayHintParams) -> list[types.InlayHint]:
        uri = params.text_document.uri
        result, good = ls.latest(uri)
        chosen = good or result
        if chosen is None:
            return []
        return decorations.inlay_hints(chosen, ls.path_for(uri), ls.lines(uri), params.range)

    @server.feature(types.WORKSPACE_SYMBOL)
    def on_workspace_symbol(ls, params: types.WorkspaceSymbolParams) -> list[types.WorkspaceSymbol]:
        wanted = params.query.lower()
        out, seen = [], set()
        for result in programs(ls, next(iter(ls.workspace.text_documents), "")):
            for path, module in result.program.modules.items():
                if path in seen:
                    continue
                seen.add(path)
                source = result.program.sources[path]
                for name, kind, span in _declared(module):
                    if wanted in name.lower():
                        location = types.Location(uri=ls.uri_for(path), range=span_range(span, source, ls.encoding))
                        out.append(types.WorkspaceSymbol(name=name, kind=kind, location=location, container_name=Path(path).name))
        return out


def _declared(module: ir.Module):
    K = types.SymbolKind
    for node in module.declarations:
        if isinstance(node, ir.Principle):
            yield node.name.value, K.Class, node.name.span
        elif isinstance(node, ir.Rule):
            yield node.name.value, K.Interface, node.name.span
        elif isinstance(node, ir.Action):
            yield node.name.value, K.Function, node.name.span
        elif isinstance(node, ir.Deployment):
            yield node.name.value, K.Module, node.name.span
        elif isinstance(node, ir.ContextBlock):
            for var in node.variables:
                yield var.name.value, K.Variable, var.name.span
