"""Running a rule's `detect regex`: one engine, one set of flags, one time bound, for every caller.

`caic check` (E107: does it compile), `caic test` (`expect detect`), `caic
eval`, the RLAIF labeller and the rewards all come here, so a constitution
flags the same responses on every install. The engine is the `regex` module
(a core dependency) in Python's `re` dialect (`VERSION0`) with the `ASCII`
flag, whatever else is installed:

- `\\d` is `[0-9]`; `\\w` is `[A-Za-z0-9_]`; `\\s` is `[ \\t\\n\\r\\f\\v]`;
  `\\b` is a boundary between those word characters and anything else.
  Arabic-Indic or full-width digits are not `\\d`; accented letters are not
  `\\w`. (These are RE2's, Go's and JavaScript's meanings too.)
- `(?i)` folds ASCII letters only: `(?i)é` does not match `É`.
- `$` (without `(?m)`) matches at the end of the text and also just before
  a newline that ends the text, as in Python and Perl; `\\Z` is the very end.

`caic check` warns W313 where a pattern's meaning would differ in other
common engines (`$`, `(?i)` with non-ASCII letters), so a pattern pasted in
or out keeps its meaning (`check/patterns.py`).

Every search runs with a time limit (`DEFAULT_TIME_LIMIT` seconds per search),
so a pattern such as `(a+)+$` cannot stall a command: a search that runs out
raises `DetectorTimeout`, and each caller records the item as not judged
instead of guessing. Of caic it imports only `cai_lang.errors`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import regex

from cai_lang.errors import CaicError

DEFAULT_TIME_LIMIT = 1.0  # seconds per search
FLAGS = regex.VERSION0 | regex.ASCII
ENGINE = "regex (VERSION0, ASCII)"

PatternError = regex.error


class DetectorTimeout(CaicError):
    """A search ran past its time limit; the text was not judged."""

    def __init__(self, pattern: str, limit: float):
        shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        super().__init__(f"detect regex {shown!r} ran past its {limit:g} s limit")
        self.pattern = pattern
        self.limit = limit


@lru_cache(maxsize=512)
def compile_detector(pattern: str) -> Any:
    """The compiled pattern; raises `PatternError` (E107 in the checker) when it does not compile."""
    return regex.compile(pattern, FLAGS)


def detector_search(pattern: str, text: str, *, time_limit: float = DEFAULT_TIME_LIMIT):
    """The first match of the `detect regex` pattern in `text`, or None; DetectorTimeout past `time_limit`."""
    try:
        return compile_detector(pattern).search(text, timeout=time_limit)
    except TimeoutError as exc:
        raise DetectorTimeout(pattern, time_limit) from exc


def detector_matches(pattern: str, text: str, *, time_limit: float = DEFAULT_TIME_LIMIT) -> bool:
    """Does the `detect regex` pattern find a match anywhere in `text`? DetectorTimeout past `time_limit`."""
    return detector_search(pattern, text, time_limit=time_limit) is not None
