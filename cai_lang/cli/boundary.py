"""The one error boundary of the commands that compile and then run models (`generate`, `train`, `eval`).

`guarded(step)` runs a step and turns what a user can cause into an exit
code and a message, never a traceback: a constitution with errors prints
its diagnostics and exits 1 (as `caic compile` does); a bad option, model,
prompt set, bundle, run folder or missing training data exits 2 with one
`error:` line naming it; a file that cannot be read or written exits 2
naming the file. Anything else is a bug and is left to surface. The
exception types are imported when a step runs, so `caic check` never pays
for them.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import typer

from cai_lang.cli.common import HAS_ERRORS, fail

T = TypeVar("T")


def expected_errors() -> tuple[type[BaseException], ...]:
    """The errors whose message is the whole story (exit 2)."""
    from cai_lang.api import UnknownDeployment
    from cai_lang.codegen.bundle import BundleError
    from cai_lang.engine import EngineError
    from cai_lang.eval.run import EvalError
    from cai_lang.train.run.folder import RunError
    from cai_lang.train.run.model_specs import PipelineError
    from cai_lang.train.run.prompts import PromptSetError
    from cai_lang.train.settings import ConfigError
    from cai_lang.train.sl.sft import NoTrainingData

    return (ConfigError, EvalError, PipelineError, RunError, PromptSetError, BundleError, UnknownDeployment, EngineError, NoTrainingData)


def guarded(step: Callable[[], T], *, on_error: Callable[[], None] = lambda: None, nothing: str = "nothing generated") -> T:
    """Run `step`; on an expected failure call `on_error` (stop a progress bar) and exit as described above."""
    from cai_lang.api import CompileRefused
    from cai_lang.cli.printing import print_refused
    from cai_lang.engine.determinism import apply_from_env
    from cai_lang.engine.quiet import quiet_libraries

    quiet_libraries()
    expected = expected_errors()
    try:
        apply_from_env()
        return step()
    except CompileRefused as refused:
        on_error()
        print_refused(refused, nothing)
        raise typer.Exit(HAS_ERRORS)
    except expected as exc:
        on_error()
        raise fail(str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        on_error()
        where = getattr(exc, "filename", None)
        raise fail(f"cannot read or write {where or 'a file'}: {getattr(exc, 'strerror', None) or exc}")
    finally:
        from cai_lang.train.run.lock import release_all

        release_all()  # a run folder's writer lock lasts exactly as long as the command
