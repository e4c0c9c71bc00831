"""The one error boundary of the commands that compile and then run models (`generate`, `train`, `eval`).

`guarded(step)` runs a step and turns what a user can cause into an exit
code and a message, never a traceback: a constitution with errors prints
its diagnostics and exits 1 (as `caic compile` does); every other error caic
raises for a user (a bad option, model, prompt set, bundle, run folder,
missing training data: a `cai_lang.errors.CaicError`) exits with its code,
2, and one `error:` line naming it; a file that cannot be read or written
exits 2 naming the file. Anything else is a bug and is left to surface.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import typer

from cai_lang.cli.common import HAS_ERRORS, fail
from cai_lang.errors import CaicError, describe_os_error

T = TypeVar("T")


def exit_for(exc: CaicError, nothing: str = "nothing compiled") -> typer.Exit:
    """The exit for an error of caic's: a refused compile prints its diagnostics, any other its message."""
    from cai_lang.api import CompileRefused

    if isinstance(exc, CompileRefused):
        from cai_lang.cli.printing import print_refused

        print_refused(exc, nothing)
        return typer.Exit(HAS_ERRORS)
    return fail(str(exc), exc.exit_code)


def guarded(step: Callable[[], T], *, on_error: Callable[[], None] = lambda: None, nothing: str = "nothing generated") -> T:
    """Run `step`; on an expected failure call `on_error` (stop a progress bar) and exit as described above."""
    from cai_lang.engine.determinism import apply_from_env
    from cai_lang.engine.quiet import quiet_libraries

    quiet_libraries()
    try:
        apply_from_env()
        return step()
    except CaicError as exc:
        on_error()
        raise exit_for(exc, nothing)
    except (OSError, UnicodeDecodeError) as exc:
        on_error()
        raise fail(describe_os_error(exc, "read or write"))
    finally:
        from cai_lang.train.run.lock import release_all

        release_all()  # a run folder's writer lock lasts exactly as long as the command
