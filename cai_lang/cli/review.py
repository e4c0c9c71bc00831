"""`caic test` and `caic diff`: the review commands; registered on the app by
`cai_lang.cli.app`. Exit codes follow sections 7 and 8 of the contract:
`test` 0 all pass, 1 a test fails or a file has errors; `diff` 0 no change of
behaviour, 1 some change, 2 a file has errors; both 2 on usage and I/O
problems. Diagnostics of files with errors go to stderr (or, with
`--format github`, to stdout as annotations)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import List, Optional

import typer

from cai_lang.cli.common import HAS_ERRORS, USAGE_ERROR, fail
from cai_lang.errors import describe_os_error


class TestFormat(str, enum.Enum):
    text = "text"
    json = "json"
    junit = "junit"
    github = "github"


class DiffFormat(str, enum.Enum):
    text = "text"
    json = "json"


def _read_error(exc: Exception) -> typer.Exit:
    return fail(describe_os_error(exc, "read", fallback="file"))


def _print_errors(report, github: bool) -> None:
    from cai_lang.cli.printing import print_diagnostics

    errors = [d for d in report.diagnostics if d.is_error]
    if github:
        from cai_lang.diagnostics.github import render_github

        sys.stdout.write(render_github(errors) + "\n")
        return
    print_diagnostics(errors, report.sources)


def register(app: typer.Typer) -> None:
    @app.command("test")
    def test_command(
        files: List[Path] = typer.Argument(..., help="`.const` files whose tests to run.", show_default=False),
        deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Run only the tests of this deployment."),
        output_format: TestFormat = typer.Option(TestFormat.text, "--format", "-f", help="Output format."),
        coverage: bool = typer.Option(False, "--coverage", help="Also list the rules, principles and conflict clauses no expectation reached."),
    ) -> None:
        """Prove the `test` declarations of constitutions with the solver."""
        from cai_lang.review import report as render
        from cai_lang.review import run_tests

        try:
            run = run_tests([str(f) for f in files], deployment=deployment)
        except (OSError, UnicodeDecodeError) as exc:
            raise _read_error(exc)
        if run.report.has_errors:
            _print_errors(run.report, output_format is TestFormat.github)
            sys.stderr.write(f"error: {', '.join(map(str, files))} has errors; no test was run\n")
            raise typer.Exit(HAS_ERRORS)
        if deployment is not None and all(deployment not in r.constitution.deployments for r in run.report.results):
            raise fail(f"no deployment named `{deployment}` in {', '.join(map(str, files))}")
        cov = run.coverage if coverage else None
        if output_format is TestFormat.json:
            text = render.render_json(run.results, cov) + "\n"
        elif output_format is TestFormat.junit:
            text = render.render_junit(run.results)
        elif output_format is TestFormat.github:
            text = render.render_github(run.results)
        else:
            text = render.render_text(run.results, cov)
        sys.stdout.write(text)
        if run.failed:
            raise typer.Exit(HAS_ERRORS)

    @app.command("diff")
    def diff_command(
        old: Path = typer.Argument(..., help="The old version of the constitution."),
        new: Path = typer.Argument(..., help="The new version."),
        deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Compare only this deployment."),
        output_format: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="Output format."),
    ) -> None:
        """Report every change of behaviour between two versions of a constitution."""
        from cai_lang.check.solver import SolverUndecided
        from cai_lang.review.diff import DiffRefused, diff_files
        from cai_lang.review.diff_report import render_json, render_text

        try:
            result = diff_files(str(old), str(new), deployment=deployment)
        except (OSError, UnicodeDecodeError) as exc:
            raise _read_error(exc)
        except SolverUndecided as undecided:
            raise fail(f"cannot compare {old} and {new}: {undecided}; raise CAIC_SOLVER_RLIMIT or simplify the conditions")
        except DiffRefused as refused:
            _print_errors(refused.report, False)
            raise fail(str(refused), USAGE_ERROR)
        except KeyError as exc:
            raise fail(str(exc.args[0]))
        sys.stdout.write(render_json(result) + "\n" if output_format is DiffFormat.json else render_text(result))
        if result.changes:
            raise typer.Exit(1)
