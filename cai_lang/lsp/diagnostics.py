"""The checker's diagnostics as LSP diagnostics, grouped by the file they point into.

A check of one open document reports findings in the files it imports too;
each goes to its own file's URI. Every diagnostic keeps its stable code,
links (`codeDescription`) to the `caic.explain` command, which shows what
`caic explain CODE` prints, and carries in `data` the code, that command
line, the deployment and the witness, so a client can show or act on them.
The message adds the help line, the deployment and the witness, as the
text renderer of `caic check` does.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from lsprotocol import types

from cai_lang.diagnostics.codes import Severity
from cai_lang.diagnostics.model import DEFAULT_MAX_ERRORS, Diagnostic, cap_errors
from cai_lang.diagnostics.render import format_witness
from cai_lang.ir.program import Program
from cai_lang.lsp.positions import LineIndex, span_range
from cai_lang.span import SourceFile

EXPLAIN_COMMAND = "caic.explain"

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}
# Findings about things that do nothing: editors grey them out.
_UNNECESSARY = {"W306", "W307"}


def explain_link(code: str) -> str:
    """A `command:` URI that runs `caic.explain CODE` in clients that follow such links."""
    return f"command:{EXPLAIN_COMMAND}?{quote(json.dumps([code]))}"


def _message(diagnostic: Diagnostic) -> str:
    lines = [diagnostic.message]
    if diagnostic.deployment is not None and diagnostic.deployment != "default":
        lines.append(f"in deployment `{diagnostic.deployment}`")
    if diagnostic.witness:
        lines.append(f"witness: {format_witness(diagnostic.witness)}")
    if diagnostic.witness_other:
        lines.append(f"against: {format_witness(diagnostic.witness_other)}")
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    return "\n".join(lines)


def to_lsp(
    diagnostic: Diagnostic,
    sources: dict[str, SourceFile],
    uris: dict[str, str],
    encoding: str,
    indexes: dict[str, LineIndex] | None = None,
) -> types.Diagnostic:
    """One diagnostic; `sources`, `uris` and `indexes` are keyed by the display name spans carry.

    `indexes` (one line index per text, built once) keeps converting many
    diagnostics of a large file linear; without it each span builds its own.
    """
    indexes = indexes if indexes is not None else {}

    def lines_of(display: str, source: SourceFile) -> LineIndex:
        if display not in indexes:
            indexes[display] = LineIndex(source.text, encoding)
        return indexes[display]

    span = diagnostic.span
    source = sources.get(span.file) if span is not None else None
    if span is None or source is None:
        where = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    else:
        where = span_range(span, source, encoding, lines_of(span.file, source))
    related = []
    for note in diagnostic.related:
        note_source = sources.get(note.span.file)
        if note_source is None or note.span.file not in uris:
            continue
        location = types.Location(uri=uris[note.span.file], range=span_range(note.span, note_source, encoding, lines_of(note.span.file, note_source)))
        related.append(types.DiagnosticRelatedInformation(location=location, message=note.message))
    return types.Diagnostic(
        range=where,
        message=_message(diagnostic),
        severity=_SEVERITY[diagnostic.severity],
        code=diagnostic.code,
        code_description=types.CodeDescription(href=explain_link(diagnostic.code)),
        source="caic",
        related_information=related or None,
        tags=[types.DiagnosticTag.Unnecessary] if diagnostic.code in _UNNECESSARY else None,
        data={
            "code": diagnostic.code,
            "explain": f"caic explain {diagnostic.code}",
            "deployment": diagnostic.deployment,
            "witness": diagnostic.witness,
            "witness_other": diagnostic.witness_other,
        },
    )


def by_file(diagnostics: list[Diagnostic], program: Program, uri_for_path, encoding: str) -> dict[str, list[types.Diagnostic]]:
    """LSP diagnostics for every file of the program (an empty list clears a file)."""
    sources = {source.display: source for source in program.sources.values()}
    uris = {source.display: uri_for_path(path) for path, source in program.sources.items()}
    root = program.sources[program.root]
    grouped: dict[str, list[types.Diagnostic]] = {uri: [] for uri in uris.values()}
    indexes: dict[str, LineIndex] = {}
    shown, omitted = cap_errors(diagnostics, DEFAULT_MAX_ERRORS)
    for diagnostic in shown:
        display = diagnostic.span.file if diagnostic.span is not None else root.display
        uri = uris.get(display, uris[root.display])
        grouped.setdefault(uri, []).append(to_lsp(diagnostic, sources, uris, encoding, indexes))
    for display, count in omitted.items():
        # The same cap as `caic check`: an editor gains nothing from 60,000 squiggles.
        start = types.Position(line=0, character=0)
        grouped.setdefault(uris.get(display, uris[root.display]), []).append(
            types.Diagnostic(
                range=types.Range(start=start, end=start),
                message=f"... and {count} more error{'' if count == 1 else 's'} in this file (only the first {DEFAULT_MAX_ERRORS} are shown)",
                severity=types.DiagnosticSeverity.Information,
                source="caic",
            )
        )
    return grouped
