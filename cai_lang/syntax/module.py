"""Parsing one file into a `Module`: the parser (with lowering embedded),
syntax errors in the language's words, and the checks on where a
`constitution` header and `import`s may stand.

This is the syntax package's front door; `loader.py` calls it for each
file of a program, the formatter for its round trip.
"""

from __future__ import annotations

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.span import SourceFile, paused_collector
from cai_lang.syntax.errors import syntax_diagnostic
from cai_lang.syntax.parser import lowering_parser, parse_text, scan_comments


def parse_module(source: SourceFile, path: str | None = None) -> tuple[ir.Module, list[Diagnostic]]:
    """Parse one file into a `Module`, with every syntax and field diagnostic found."""
    with lowering_parser() as lowerer, paused_collector():
        lowerer.reset(source)
        result = parse_text(source.text)
        diagnostics = [syntax_diagnostic(error, source) for error in result.errors]
        diagnostics.extend(lowerer.diagnostics)
        lowerer.reset(SourceFile("", ""))
    items: list = [item for part in result.trees for item in part]
    items.sort(key=lambda node: node.span.start)

    header = None
    imports: list[ir.Import] = []
    declarations: list = []
    for item in items:
        if isinstance(item, ir.Header):
            if header is not None:
                diagnostics.append(msg.DUPLICATE.at(item.name.span, kind="constitution header", name=item.name.value))
                continue
            if imports or declarations:
                diagnostics.append(msg.MISPLACED_HEADER.at(source.span(item.span.start, item.name.span.end)))
            header = item
        elif isinstance(item, ir.Import):
            if declarations:
                diagnostics.append(msg.MISPLACED_IMPORT.at(item.span))
            imports.append(item)
        else:
            declarations.append(item)
    comments = tuple(ir.Comment(span=source.span(s, e), text=source.text[s:e]) for s, e in scan_comments(source.text))
    module = ir.Module(
        path=str(path if path is not None else source.path),
        display=source.display,
        header=header,
        imports=tuple(imports),
        declarations=tuple(declarations),
        comments=comments,
    )
    return module, diagnostics
