"""One error root and one boundary: any `CaicError` a command lets escape ends it with an `error:` line
and the error's exit code, never a traceback; a file error is worded once."""

from __future__ import annotations

import errno

import typer
from typer.testing import CliRunner

from cai_lang.cli.help_words import WordsGroup
from cai_lang.errors import CaicError, describe_os_error


class _Refused(CaicError):
    exit_code = 3


def _app(error: BaseException) -> typer.Typer:
    app = typer.Typer(cls=WordsGroup, pretty_exceptions_enable=False)

    @app.command()
    def explode() -> None:
        raise error

    @app.command()
    def fine() -> None:
        typer.echo("ok")

    return app


def test_an_unhandled_caic_error_is_one_error_line_and_its_exit_code() -> None:
    result = CliRunner().invoke(_app(_Refused("the thing is refused")), ["explode"])
    assert result.exit_code == 3
    assert "error: the thing is refused" in result.output
    assert "Traceback" not in result.output
    assert CliRunner().invoke(_app(CaicError("plain")), ["explode"]).exit_code == 2


def test_a_bug_is_not_hidden_by_the_boundary() -> None:
    result = CliRunner().invoke(_app(RuntimeError("a bug")), ["explode"])
    assert isinstance(result.exception, RuntimeError)


def test_every_error_the_old_boundary_listed_is_under_the_root() -> None:
    from cai_lang.api import CompileRefused, UnknownDeployment
    from cai_lang.codegen.bundle import BundleError
    from cai_lang.engine import EngineError
    from cai_lang.eval.run import EvalError
    from cai_lang.train.run.folder import RunError
    from cai_lang.train.run.model_specs import PipelineError
    from cai_lang.train.run.prompts import PromptSetError
    from cai_lang.train.settings import ConfigError
    from cai_lang.train.sl.sft import NoTrainingData

    for kind in (ConfigError, EvalError, PipelineError, RunError, PromptSetError, BundleError, UnknownDeployment, EngineError, NoTrainingData):
        assert issubclass(kind, CaicError) and kind.exit_code == 2, kind
    assert issubclass(CompileRefused, CaicError) and CompileRefused.exit_code == 1
    assert issubclass(RunError, ValueError)  # the standard base is kept for code that catches it


def test_os_errors_are_described_one_way() -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "notes.const")
    assert describe_os_error(missing, "read") == "cannot read notes.const: No such file or directory"
    assert describe_os_error(missing, "write", "out/") == "cannot write out/: No such file or directory"
    assert describe_os_error(OSError("odd"), "read", fallback="file") == "cannot read file: odd"
    bad = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    assert describe_os_error(bad, "read", "x.const") == "cannot read x.const: not UTF-8 text (invalid start byte)"
