"""The `Diagnostic` value every layer reports, and `Message`, the way to make one.

A diagnostic carries a code from the registry, a severity taken from that
code (never chosen at the call site), a message, a primary span, related
spans, the deployment it was found in and a witness context. `Message`
binds a wording template to its code so that a finding is always built the
same way: `UNKNOWN_REFERENCE.at(span, kind="principle", name="x")`.
"""

from __future__ import annotations

from typing import Any, Iterable, Union

from pydantic import BaseModel, ConfigDict

from cai_lang.diagnostics.codes import CODES, Severity
from cai_lang.diagnostics.fixes import Fix
from cai_lang.span import Span

WitnessValue = Union[bool, str]


class Related(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    span: Span
    message: str


class Diagnostic(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    code: str
    severity: Severity
    message: str
    span: Span | None = None
    related: tuple[Related, ...] = ()
    deployment: str | None = None
    witness: dict[str, WitnessValue] | None = None
    # The second context of a witness pair (E211: two contexts that differ
    # only in user-set variables); `witness` is the first.
    witness_other: dict[str, WitnessValue] | None = None
    help: str | None = None
    # Which wording in `messages.py` produced it (e.g. "REPEATED_FIELD"), for
    # tools that must tell findings of one code apart; not part of the JSON.
    kind: str | None = None
    # Edits that would fix it (`caic fix` applies the `applicable` ones).
    fixes: tuple[Fix, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.code, self.message)
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)

    def identity(self) -> tuple:
        """What makes two findings the same finding, whatever deployment found them."""
        return (self.code, self.message, self.span, tuple(r.span for r in self.related))


class Message:
    """A wording template bound to its diagnostic code."""

    def __init__(self, code: str, template: str):
        if code not in CODES:
            raise KeyError(f"unregistered diagnostic code {code}")
        self.code = code
        self.template = template
        self.name: str | None = None  # set by messages.py to the constant's name

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    def text(self, **fields: Any) -> str:
        return self.template.format(**fields)

    def at(
        self,
        span: Span | None,
        *,
        help: str | None = None,
        related: Iterable[Related] = (),
        deployment: str | None = None,
        witness: dict[str, WitnessValue] | None = None,
        witness_other: dict[str, WitnessValue] | None = None,
        fixes: Iterable[Fix | None] = (),
        **fields: Any,
    ) -> Diagnostic:
        return Diagnostic(
            code=self.code,
            severity=self.severity,
            message=self.text(**fields),
            span=span,
            related=tuple(related),
            deployment=deployment,
            witness=witness,
            witness_other=witness_other,
            help=help,
            kind=self.name,
            fixes=tuple(f for f in fixes if f is not None),
        )


def summarize(diagnostics: Iterable[Diagnostic]) -> dict[str, int]:
    counts = {"errors": 0, "warnings": 0, "infos": 0}
    for diagnostic in diagnostics:
        key = {Severity.ERROR: "errors", Severity.WARNING: "warnings", Severity.INFO: "infos"}
        counts[key[diagnostic.severity]] += 1
    return counts


def sort_and_dedupe(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple] = set()
    unique = []
    for diagnostic in diagnostics:
        key = diagnostic.identity() + (diagnostic.deployment,)
        if key not in seen:
            seen.add(key)
            unique.append(diagnostic)
    return sorted(unique, key=Diagnostic.sort_key)


DEFAULT_MAX_ERRORS = 50  # errors shown per file; `caic check --max-errors 0` shows all


def cap_errors(diagnostics: Iterable[Diagnostic], max_errors: int) -> tuple[list[Diagnostic], dict[str, int]]:
    """Keep at most `max_errors` errors per file (0: no cap); warnings and notes are kept.

    Returns the kept diagnostics, in order, and how many errors were left out
    per file, so the caller can say "... and N more" instead of dropping them silently.
    """
    kept: list[Diagnostic] = []
    shown: dict[str, int] = {}
    omitted: dict[str, int] = {}
    for diagnostic in diagnostics:
        if max_errors > 0 and diagnostic.severity is Severity.ERROR:
            file = diagnostic.span.file if diagnostic.span is not None else ""
            if shown.get(file, 0) >= max_errors:
                omitted[file] = omitted.get(file, 0) + 1
                continue
            shown[file] = shown.get(file, 0) + 1
        kept.append(diagnostic)
    return kept, omitted
