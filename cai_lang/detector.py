"""Running a rule's `detect regex` on text, with a bounded cost: the one way every caller does it.

Detectors run on model output that nobody has read, so a pattern such as
`(a+)+$` must not be able to stall evaluation or labelling. A pattern that
RE2 accepts (google-re2, the `train` extra) runs there in time linear in the
text. RE2 refuses backreferences and lookaround; those patterns run under
the `regex` module with a time limit per call (`DEFAULT_TIME_LIMIT`
seconds), and a search that runs out raises `DetectorTimeout` so the caller
can record the item as not judged instead of guessing. Without either
module, Python's `re` is the last resort and is not bounded. The dialect is
documented in docs/language.md ("Detector patterns"). This module has no
dependency on the rest of the package.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

DEFAULT_TIME_LIMIT = 1.0  # seconds per search for patterns RE2 cannot run
from cai_lang.errors import CaicError


class DetectorTimeout(CaicError):
    """A backtracking search ran past its time limit; the text was not judged."""

    def __init__(self, pattern: str, limit: float):
        shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        super().__init__(f"detect regex {shown!r} ran past its {limit:g} s limit")
        self.pattern = pattern
        self.limit = limit


def _re2_search(pattern: str) -> Callable[[str], bool] | None:
    try:
        import re2
    except ImportError:
        return None
    options = re2.Options()
    options.log_errors = False  # refusals are expected (backreferences); not stderr noise
    try:
        compiled = re2.compile(pattern, options)
    except re2.error:
        return None
    return lambda text: compiled.search(text) is not None


def _bounded_search(pattern: str, limit: float) -> Callable[[str], bool]:
    try:
        import regex
    except ImportError:
        compiled_re = re.compile(pattern)
        return lambda text: compiled_re.search(text) is not None
    compiled = regex.compile(pattern, regex.VERSION0)  # VERSION0: the `re` dialect

    def search(text: str) -> bool:
        try:
            return compiled.search(text, timeout=limit) is not None
        except TimeoutError as exc:
            raise DetectorTimeout(pattern, limit) from exc

    return search


@lru_cache(maxsize=256)
def _searcher(pattern: str, limit: float) -> tuple[str, Callable[[str], bool]]:
    fast = _re2_search(pattern)
    if fast is not None:
        return "re2", fast
    return "bounded", _bounded_search(pattern, limit)


def detector_engine(pattern: str) -> str:
    """`re2` when the pattern runs in linear time, else `bounded` (time-limited backtracking)."""
    return _searcher(pattern, DEFAULT_TIME_LIMIT)[0]


def detector_matches(pattern: str, text: str, *, time_limit: float = DEFAULT_TIME_LIMIT) -> bool:
    """Does the `detect regex` pattern find a match anywhere in `text`?

    Raises `DetectorTimeout` when a pattern RE2 cannot run backtracks past
    `time_limit` seconds on this text.
    """
    return _searcher(pattern, time_limit)[1](text)
