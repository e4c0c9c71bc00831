"""The caic language server (pygls): documents in, the checker's findings out.

Every open document is checked as a root with `cai_lang.api.check_file`,
the same entry point `caic check` uses, with the text of all open
documents passed as `overlays` so unsaved edits count, and one
`ModuleCache` per workspace folder so imported and standard-library
modules are parsed once (an entry is dropped when its file changes on
disk). Findings go to the URI of the file they point into; a file that
several open roots import gets the union. When a document changes, open
documents that import it are checked again. The feature modules beside
this one answer hover, definition, completion, symbols and formatting;
`main` serves over stdio (`caic lsp`).

Checks never run on the thread that answers requests: an edit schedules
one after a short pause (`DEBOUNCE`), a newer edit of the same document
cancels a check not yet started and discards the result of one already
running, and checks run one at a time on a worker thread, so hover and the
other requests are answered while a large document is checked. Each
document version gets one line index. A document over the size limit of
`caic check` (`CAIC_MAX_FILE_SIZE`) is not checked, and at most
`DEFAULT_MAX_ERRORS` errors per file are published, with a note counting
the rest. Framing errors on the wire are answered and close the connection
(`framing.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from cai_lang import __version__
from cai_lang.api import check_file
from cai_lang.check import CheckResult
from cai_lang.diagnostics.codes import lookup
from cai_lang.errors import os_reason
from cai_lang.lsp import completion, diagnostics, features, framing, hover, index, symbols
from cai_lang.lsp import tests as lsp_tests
from cai_lang.lsp.formatting import FormatterBug, format_text
from cai_lang.lsp.positions import LineIndex, path_of, span_range, uri_of
from cai_lang.syntax.limits import InputRefused, max_file_bytes
from cai_lang.syntax.loader import ModuleCache

DEBOUNCE = 0.2  # seconds an edit waits for the next keystroke before it is checked

log = logging.getLogger(__name__)


class CaicLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("caic", __version__)
        self.caches: dict[str, ModuleCache] = {}
        self.mtimes: dict[str, int | None] = {}
        self.results: dict[str, CheckResult] = {}  # uri -> its latest check as a root
        self.good: dict[str, CheckResult] = {}  # uri -> its latest check that got as far as names
        self.published: dict[str, dict[str, list[types.Diagnostic]]] = {}  # root uri -> target uri -> findings
        self.synthetic: dict[str, str] = {}  # made-up path -> uri, for documents not on disk
        self.pending: dict[str, asyncio.Task] = {}  # uri -> its scheduled or running check
        self.checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caic-check")
        self.state_lock = threading.RLock()  # results, caches and mtimes: the checker thread writes them
        self._lines: dict[str, tuple[str, LineIndex]] = {}  # uri -> (text it indexes, index)

    # ------------------------------------------------------------ paths and state
    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16.value)

    def path_for(self, uri: str) -> str:
        path = path_of(uri)
        if path is None:  # an unsaved `untitled:` buffer: check it as if it sat in the workspace
            base = self.workspace.root_path or os.getcwd()
            name = hashlib.sha1(uri.encode("utf-8")).hexdigest()[:12]
            path = str(Path(base, f"untitled-{name}.const").resolve())
            self.synthetic[path] = uri
        return path

    def uri_for(self, path: str) -> str:
        return self.synthetic.get(path) or uri_of(path)

    def cache_for(self, path: str) -> ModuleCache:
        folders = [path_of(f.uri) for f in self.workspace.folders.values()]
        inside = [f for f in folders if f and (path + os.sep).startswith(f.rstrip(os.sep) + os.sep)]
        key = max(inside, key=len) if inside else ""
        cache = self.caches.setdefault(key, ModuleCache())
        for cached in list(cache.parsed):
            if self.mtimes.get(cached) != _mtime(cached):  # changed on disk since it was parsed
                cache.parsed.pop(cached, None)
                self.mtimes.pop(cached, None)
        return cache

    def overlays(self) -> dict[str, str]:
        # list(): one atomic copy, the loop thread may open a document meanwhile
        return {self.path_for(uri): doc.source for uri, doc in list(self.workspace.text_documents.items())}

    def lines(self, uri: str) -> LineIndex:
        """The line index of a document's current text: built once per version."""
        text = self.workspace.get_text_document(uri).source
        cached = self._lines.get(uri)
        if cached is None or cached[0] is not text or cached[1].encoding != self.encoding:
            cached = (text, LineIndex(text, self.encoding))
            self._lines[uri] = cached
        return cached[1]

    def latest(self, uri: str) -> tuple[CheckResult | None, CheckResult | None]:
        """The latest check of a document and the latest one that resolved names.

        A document not checked yet is checked here only when no check of it
        is scheduled; otherwise requests answer from what there is (maybe
        nothing) rather than wait.
        """
        if uri not in self.results and uri in self.workspace.text_documents and uri not in self.pending:
            self.validate(uri)
        return self.results.get(uri), self.good.get(uri)

    # ------------------------------------------------------------ scheduling
    def schedule(self, uri: str, delay: float = DEBOUNCE) -> None:
        """Check `uri` after `delay` on the checker thread; a newer call replaces this one."""
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the server loop (library use): check now
            self.validate(uri)
            return
        self.pending[uri] = loop.create_task(self._check_later(uri, delay))

    async def _check_later(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        document = self.workspace.text_documents.get(uri)
        if document is None:
            return
        text = document.source
        task = asyncio.current_task()
        try:
            found = await asyncio.get_running_loop().run_in_executor(self.checker, self._findings, uri, True)
        finally:
            if self.pending.get(uri) is task:
                del self.pending[uri]
        current = self.workspace.text_documents.get(uri)
        if current is None or current.source is not text:
            return  # edited meanwhile: the newer check publishes
        for root, per_file in found:
            self.publish(root, per_file)

    # ------------------------------------------------------------ checking
    def check(self, uri: str) -> CheckResult:
        path = self.path_for(uri)
        document = self.workspace.text_documents.get(uri)
        limit = max_file_bytes()
        if document is not None and len(document.source) > limit:  # characters: a lower bound on bytes
            raise InputRefused(path, f"{len(document.source)} characters, over the {limit}-byte limit of caic check (CAIC_MAX_FILE_SIZE)")
        cache = self.cache_for(path)
        result = check_file(path, cache=cache, overlays=self.overlays())
        for parsed in cache.parsed:
            self.mtimes.setdefault(parsed, _mtime(parsed))
        self.results[uri] = result
        if result.constitution is not None:
            self.good[uri] = result
        return result

    def _findings(self, uri: str, follow: bool) -> list[tuple[str, dict[str, list[types.Diagnostic]]]]:
        """Check `uri` (and, with `follow`, the open documents importing it): what to publish for each root."""
        out = []
        with self.state_lock:
            try:
                result = self.check(uri)
            except InputRefused as refused:
                out.append((uri, {uri: [_refused(refused)]}))
                return out
            except Exception as exc:  # a crash must not take the editor session down
                log.exception("checking %s failed", uri)
                self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=f"caic: checking {uri} failed: {exc}"))
                return out
            out.append((uri, diagnostics.by_file(result.diagnostics, result.program, self.uri_for, self.encoding)))
            if follow:
                path = self.path_for(uri)
                for other, previous in list(self.results.items()):
                    if other != uri and other in self.workspace.text_documents and path in previous.program.modules:
                        out.extend(self._findings(other, follow=False))
        return out

    def validate(self, uri: str, follow: bool = True) -> None:
        """Check now, on this thread, and publish."""
        for root, per_file in self._findings(uri, follow):
            self.publish(root, per_file)

    def publish(self, root: str, found: dict[str, list[types.Diagnostic]]) -> None:
        before = self.published.pop(root, {})
        if found:
            self.published[root] = found
        for target in set(before) | set(found):
            merged, seen = [], set()
            for per_root in self.published.values():
                for item in per_root.get(target, []):
                    key = (item.code, item.message, item.range.start.line, item.range.start.character, item.range.end.line, item.range.end.character)
                    if key not in seen:
                        seen.add(key)
                        merged.append(item)
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=target, diagnostics=merged))

    def forget(self, uri: str) -> None:
        """A closed document: drop its findings, and re-check the open files that import it,
        which now see the file on disk instead of the editor's text."""
        pending = self.pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._lines.pop(uri, None)
        with self.state_lock:
            self.results.pop(uri, None)
            self.good.pop(uri, None)
        self.publish(uri, {})
        path = self.path_for(uri)
        for other, previous in list(self.results.items()):
            if other in self.workspace.text_documents and path in previous.program.modules:
                self.schedule(other, 0.0)

    # ------------------------------------------------------------ the wire
    def start_io(self, stdin=None, stdout=None) -> None:
        """Serve over stdio, with framing errors answered (see framing.py)."""
        from pygls.exceptions import JsonRpcException
        from pygls.io_ import StdoutWriter

        self._stop_event = threading.Event()
        writer = StdoutWriter(stdout or sys.stdout.buffer)
        self.protocol.set_writer(writer)
        reader = framing.BoundedStdinReader(stdin or sys.stdin.buffer, self.thread_pool)
        try:
            asyncio.run(framing.run_framed(self._stop_event, reader, self.protocol, writer.write, self.report_server_error, JsonRpcException))
        except BrokenPipeError:
            log.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.checker.shutdown(wait=False, cancel_futures=True)
            self.shutdown()


def _refused(refused: InputRefused) -> types.Diagnostic:
    start = types.Position(line=0, character=0)
    return types.Diagnostic(
        range=types.Range(start=start, end=start),
        message=f"caic: this document is not checked: {os_reason(refused)}",
        severity=types.DiagnosticSeverity.Warning,
        source="caic",
    )


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _where(ls: CaicLanguageServer, params) -> tuple[str, str, LineIndex, int]:
    uri = params.text_document.uri
    lines = ls.lines(uri)
    return uri, lines.text, lines, lines.offset(params.position)


def build_server() -> CaicLanguageServer:
    server = CaicLanguageServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CaicLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CaicLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: CaicLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        # A save checks at once (and runs the tests on that check), replacing any pending check.
        pending = ls.pending.pop(params.text_document.uri, None)
        if pending is not None:
            pending.cancel()
        ls.validate(params.text_document.uri)
        try:  # tests run on save only: proving them on every keystroke would lag typing
            lsp_tests.publish_with_tests(ls, params.text_document.uri)
        except Exception as exc:
            log.exception("running the tests of %s failed", params.text_document.uri)
            ls.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=f"caic: running tests failed: {exc}"))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CaicLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: CaicLanguageServer, params: types.HoverParams) -> types.Hover | None:
        uri, _text, lines, offset = _where(ls, params)
        result, good = ls.latest(uri)
        if result is None:
            return None
        test = lsp_tests.find_test(result, ls.path_for(uri), offset)
        if test is not None:
            value = lsp_tests.hover_markdown(result, test)
            contents = types.MarkupContent(kind=types.MarkupKind.Markdown, value=value)
            return types.Hover(contents=contents, range=lines.range(test.name.span.start, test.name.span.end))
        target = index.target_at(result.program, ls.path_for(uri), offset)
        if target is None:
            return None
        constitution = result.constitution or (good.constitution if good is not None else None)
        text = hover.hover_markdown(target, result.program, constitution)
        if text is None:
            return None
        contents = types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)
        return types.Hover(contents=contents, range=lines.range(target.span.start, target.span.end))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: CaicLanguageServer, params: types.DefinitionParams) -> types.Location | None:
        uri, _text, _lines, offset = _where(ls, params)
        result, good = ls.latest(uri)
        if result is None:
            return None
        target = index.target_at(result.program, ls.path_for(uri), offset)
        if target is None:
            return None
        for checked in (result, good):
            if checked is None:
                continue
            found = index.declaration_of(target, checked.program, checked.constitution)
            source = checked.program.sources.get(found[0]) if found is not None else None
            if source is not None:
                return types.Location(uri=ls.uri_for(found[0]), range=span_range(found[1], source, ls.encoding))
        return None

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
    def on_completion(ls: CaicLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        uri, text, _lines, offset = _where(ls, params)
        _result, good = ls.latest(uri)
        names = completion.Names(good.program if good else None, good.constitution if good else None, ls.path_for(uri))
        return types.CompletionList(is_incomplete=False, items=completion.complete(text[:offset], names))

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: CaicLanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        uri = params.text_document.uri
        result, _good = ls.latest(uri)
        module = result.program.modules.get(ls.path_for(uri)) if result is not None else None
        if module is None:
            return []
        return symbols.document_symbols(module, ls.lines(uri))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(ls: CaicLanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        uri = params.text_document.uri
        text = ls.workspace.get_text_document(uri).source
        try:
            formatted = format_text(text, ls.path_for(uri))
        except FormatterBug as exc:
            ls.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=f"caic: {exc}"))
            return None
        if formatted.text is None:
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message="caic: not formatted, the file has syntax errors"))
            return None
        if not formatted.changed:
            return []
        return [types.TextEdit(range=ls.lines(uri).whole(), new_text=formatted.text)]

    features.register(server)

    @server.command(diagnostics.EXPLAIN_COMMAND)
    def explain(ls: CaicLanguageServer, code: str) -> str | None:
        entry = lookup(str(code))
        if entry is None:
            return None
        text = f"{entry.code} ({entry.severity.value}): {entry.title}\n\n{entry.explanation}\n\nExample:\n{entry.bad}\nFixed:\n{entry.fixed}"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=text))
        return text

    return server


def main() -> None:
    build_server().start_io()
