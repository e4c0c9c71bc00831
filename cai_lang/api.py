"""The library's front door: load, check and compile constitutions by path, write and render bundles.

The command line, the language server and the trainer all come through
here, so they agree on what a file means. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cai_lang.check import CheckResult, check_program
from cai_lang.diagnostics.model import Diagnostic, sort_and_dedupe
from cai_lang.errors import CaicError
from cai_lang.span import SourceFile
from cai_lang.syntax.loader import ModuleCache, load_program


class UnknownDeployment(CaicError, KeyError):
    def __init__(self, name: str, available: list[str]):
        super().__init__(name)
        self.name = name
        self.available = available

    def __str__(self) -> str:
        return f"no deployment named `{self.name}` (deployments: {', '.join(self.available)})"


def check_file(
    path: str | Path,
    *,
    deployment: str | None = None,
    cache: ModuleCache | None = None,
    overlays: dict[str, str] | None = None,
    display: str | None = None,
) -> CheckResult:
    """Parse and check one constitution. Raises OSError when the file cannot be read,
    and UnknownDeployment when `deployment` names none of its deployments."""
    program = load_program(path, cache=cache, overlays=overlays, display=display if display is not None else str(path))
    if deployment is not None:
        names = _declared_deployments(program)
        if names is not None and deployment not in names:
            raise UnknownDeployment(deployment, names)
    return check_program(program, deployment=deployment)


def _declared_deployments(program) -> list[str] | None:
    from cai_lang.ir import nodes as ir

    if program.has_syntax_errors:
        return None
    return ["default"] + [d.name.value for d in program.root_module.of_type(ir.Deployment)]


@dataclass
class Report:
    results: list[CheckResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    @property
    def has_warnings(self) -> bool:
        return any(d.severity.value == "warning" for d in self.diagnostics)


def check_files(paths: list[str | Path], *, deployment: str | None = None, overlays: dict[str, str] | None = None,
                displays: dict[str, str] | None = None) -> Report:
    """Check several root files; modules they share are parsed and reported once.

    `overlays` gives the text of files that are not on disk (standard input),
    by resolved path; `displays` the name each root is reported under.
    """
    cache = ModuleCache()
    report = Report()
    found: list[Diagnostic] = []
    for path in paths:
        result = check_file(path, deployment=deployment, cache=cache, overlays=overlays, display=(displays or {}).get(str(path)))
        report.results.append(result)
        found.extend(result.diagnostics)
        for source in result.program.sources.values():
            report.sources[source.display] = source
    report.diagnostics = sort_and_dedupe(found)
    return report


# ---------------------------------------------------------------- compiling


class CompileRefused(CaicError):
    """The constitution has errors, so nothing was compiled; `result` holds the diagnostics."""

    exit_code = 1

    def __init__(self, result: CheckResult):
        super().__init__(f"{len(result.errors)} error(s)")
        self.result = result

    @property
    def sources(self) -> dict[str, SourceFile]:
        return self.result.program.source_by_display()


def compile_file(
    path: str | Path,
    *,
    deployment: str | None = None,
    all_deployments: bool = False,
    compiler_version: str | None = None,
):
    """Check a constitution and compile it into bundles (a list of `cai_lang.codegen.bundle.Bundle`).

    Compiles `deployment` (default: `default`), or with `all_deployments`
    `default` and then every deployment in declaration order. The whole file
    is checked first; any error refuses the compile with `CompileRefused`.
    Raises OSError when the file cannot be read and UnknownDeployment for a
    deployment the file does not declare.
    """
    return compile_checked(check_file(path), deployment=deployment, all_deployments=all_deployments, compiler_version=compiler_version)


def compile_checked(
    result: CheckResult,
    *,
    deployment: str | None = None,
    all_deployments: bool = False,
    compiler_version: str | None = None,
):
    """`compile_file` for a file already checked (`check_file`'s result), so a caller
    that needs the constitution too does not check it twice."""
    if result.errors or result.constitution is None:
        raise CompileRefused(result)
    constitution = result.constitution
    if all_deployments:
        names = list(constitution.deployments)
    else:
        names = [deployment or "default"]
        if names[0] not in constitution.deployments:
            raise UnknownDeployment(names[0], list(constitution.deployments))
    return [bundle_of(constitution, name, compiler_version=compiler_version) for name in names]


def permissions_of(constitution, name: str) -> dict[str, dict]:
    """Per action, who can change its verdict in deployment `name` (language 1.2), by the solver."""
    from cai_lang.check.authority import who_can_change
    from cai_lang.ir.resolve import resolve_deployment

    deployment = resolve_deployment(constitution, name)
    return {action: who_can_change(deployment, action) for action in sorted(deployment.actions)}


def bundle_of(constitution, name: str, *, compiler_version: str | None = None):
    """The bundle of deployment `name` of a checked constitution, with its permissions."""
    from cai_lang.codegen.compiler import compile_deployment

    options = {"compiler_version": compiler_version} if compiler_version is not None else {}
    return compile_deployment(constitution, name, permissions=permissions_of(constitution, name), **options)


# ---------------------------------------------------------------- what the trainer needs of a bundle


def write_bundle(bundle, folder: str | Path) -> list[Path]:
    """Write a compiled bundle (bundle.json, its templates and constitution.md) under `folder/<deployment>/`; returns the paths."""
    from cai_lang.codegen.compiler import write_bundle as write

    return write(bundle, Path(folder))


def render_prompt(bundle, item_id: str, phase: str, dialect: str = "chat", **values):
    """One of the bundle's own templates rendered for an item: a chat message list or a text prompt."""
    from cai_lang.codegen.templates import render_prompt as render

    return render(bundle, item_id, phase, dialect, **values)


def default_early_stop():
    """The compiler's early stop (reply and instruction), for bundles compiled before they carried one."""
    from cai_lang.codegen.wording import early_stop

    return early_stop()


@dataclass
class Fixed:
    """What `fix_text` did: the new text, the fixes applied (code, title), and the last check."""

    text: str
    applied: list[tuple[str, str]]
    result: CheckResult
    before: CheckResult


def fix_text(path: str | Path, text: str, *, display: str | None = None, rounds: int = 10) -> Fixed:
    """Apply the applicable fixes of the findings in `text` (the file at `path`), checking again
    after each round, since a fixed name can let a later pass find more; fixes that would edit
    another file or overlap an earlier fix of the same round wait for the next round."""
    from cai_lang.diagnostics.fixes import apply_edits, overlaps

    resolved = str(Path(path).resolve())
    applied: list[tuple[str, str]] = []
    before = result = check_file(resolved, overlays={resolved: text}, display=display)
    for _ in range(rounds):
        root = result.program.sources[result.program.root].display
        taken, edits = [], []
        for diagnostic in result.diagnostics:
            for fix in diagnostic.fixes:
                if not fix.applicable or any(e.span.file != root for e in fix.edits):
                    continue
                if any(overlaps(edit, other) for edit in fix.edits for other in edits):
                    continue
                edits.extend(fix.edits)
                taken.append((diagnostic.code, fix.title))
                break
        if not edits:
            break
        text = apply_edits(text, edits)
        applied.extend(taken)
        result = check_file(resolved, overlays={resolved: text}, display=display)
    return Fixed(text=text, applied=applied, result=result, before=before)
