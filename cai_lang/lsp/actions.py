"""Quick fixes: each diagnostic's fixes as code actions, plus a suppression for warnings.

The fixes are the ones the checker attached to its findings
(`cai_lang.diagnostics.fixes`), so a quick fix makes exactly the edit
`caic fix` makes; the applicable one is marked preferred. A warning or note
also gets "silence CODE on this line", a `# caic: allow CODE` comment.
"""

from __future__ import annotations

from lsprotocol import types

from cai_lang.check import CheckResult
from cai_lang.diagnostics.codes import Severity
from cai_lang.diagnostics.fixes import Fix, suppression
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.lsp.diagnostics import to_lsp
from cai_lang.lsp.positions import LineIndex, span_range


def _overlap(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return p.line, p.character

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def code_actions(result: CheckResult, path: str, wanted: types.Range, uri_for, encoding: str) -> list[types.CodeAction]:
    """The quick fixes of the findings in the file at `path` whose range meets `wanted`."""
    program = result.program
    source = program.sources.get(path)
    if source is None:
        return []
    sources = {s.display: s for s in program.sources.values()}
    uris = {s.display: uri_for(p) for p, s in program.sources.items()}
    indexes = {s.display: LineIndex(s.text, encoding) for s in program.sources.values()}
    actions = []
    for diagnostic in result.diagnostics:
        if diagnostic.span is None or diagnostic.span.file != source.display:
            continue
        shown = to_lsp(diagnostic, sources, uris, encoding, indexes)
        if not _overlap(shown.range, wanted):
            continue
        fixes = list(diagnostic.fixes)
        if diagnostic.severity is not Severity.ERROR:
            fixes.append(suppression(diagnostic.code, diagnostic.span, source.text))
        actions.extend(_action(fix, diagnostic, shown, sources, uris, indexes, encoding) for fix in fixes)
    return actions


def _action(fix: Fix, diagnostic: Diagnostic, shown: types.Diagnostic, sources, uris, indexes, encoding: str) -> types.CodeAction:
    changes: dict[str, list[types.TextEdit]] = {}
    for edit in fix.edits:
        source = sources[edit.span.file]
        rng = span_range(edit.span, source, encoding, indexes[edit.span.file])
        changes.setdefault(uris[edit.span.file], []).append(types.TextEdit(range=rng, new_text=edit.new_text))
    return types.CodeAction(
        title=f"{fix.title} ({diagnostic.code})",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[shown],
        is_preferred=fix.applicable or None,
        edit=types.WorkspaceEdit(changes=changes),
    )
