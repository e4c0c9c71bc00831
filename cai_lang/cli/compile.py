"""`caic` commands for the compile side of the tool; registered on the app by `cai_lang.cli.app`.

`compile` writes bundles, `render` previews one prompt as the model will see
it, `export` writes the Hugging Face CAI recipe's JSON and `import` reads it
back into a `.const` file, and `schema` prints
the bundle's JSON Schema. Exit codes follow the language contract: 0 done,
1 when the constitution has errors (printed as `caic check` prints them, on
stderr so that stdout stays the command's output), 2 for usage and I/O
problems. Heavy imports stay inside the command bodies so that `caic check`
starts fast.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any, Optional

import typer

from cai_lang.cli.common import HAS_ERRORS
from cai_lang.cli.common import fail as _fail
from cai_lang.errors import describe_os_error
from cai_lang.files import read_bytes_gated


class Phase(str, enum.Enum):
    critique = "critique"
    revision = "revision"
    compare = "compare"
    compare_cot = "compare_cot"
    compare_cot_answer = "compare_cot_answer"


class RenderDialect(str, enum.Enum):
    chat = "chat"
    text = "text"
    paper = "paper"


class ExportFormat(str, enum.Enum):
    hf_cai = "hf-cai"


# What `caic render` shows where the caller gave no conversation or model output.
PLACEHOLDERS: dict[str, Any] = {
    "conversation": [
        {"role": "user", "content": "<the user's message>"},
        {"role": "assistant", "content": "<the response under review>"},
    ],
    "critique": "<the critique written in the critique step>",
    "response_a": "<response A>",
    "response_b": "<response B>",
    "reasoning": "<the step-by-step reasoning written in the compare_cot step>",
}


def _compile(file: Path, deployment: Optional[str] = None, all_deployments: bool = False) -> list:
    """Run `api.compile_file`, turning its refusals into exit codes."""
    return _compile_checked(file, deployment, all_deployments)[0]


def _compile_checked(file: Path, deployment: Optional[str] = None, all_deployments: bool = False) -> tuple[list, object]:
    """The bundles and the checked constitution, from one check of `file`; refusals become exit codes."""
    from cai_lang.api import CompileRefused, UnknownDeployment, check_file, compile_checked

    try:
        result = check_file(file)
        return compile_checked(result, deployment=deployment, all_deployments=all_deployments), result.constitution
    except CompileRefused as refused:
        _print_diagnostics(refused)
        raise typer.Exit(HAS_ERRORS)
    except UnknownDeployment as exc:
        raise _fail(str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(describe_os_error(exc, "read", fallback=file))


def _print_diagnostics(refused) -> None:
    from cai_lang.cli.printing import print_refused

    print_refused(refused, "nothing compiled")


def compile_command(
    file: Path = typer.Argument(..., help="The `.const` file to compile.", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write DEPLOYMENT/bundle.json, templates and constitution.md into."),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Compile this deployment (default: `default`)."),
    all_deployments: bool = typer.Option(False, "--all", help="Compile `default` and every deployment."),
) -> None:
    """Compile a constitution into content-hashed bundles of prompt templates for the trainer."""
    from cai_lang.codegen.compiler import write_bundle

    if deployment is not None and all_deployments:
        raise _fail("give either --deployment or --all, not both")
    bundles = _compile(file, deployment, all_deployments)
    for bundle in bundles:
        try:
            written = write_bundle(bundle, output)
        except OSError as exc:
            raise _fail(describe_os_error(exc, "write", fallback=output))
        typer.echo(f"{bundle.deployment.name}: {written[0].parent / 'bundle.json'} ({len(written)} files, sha256 {bundle.content_hash[:16]})")


def schema_command() -> None:
    """Print the JSON Schema of `bundle.json`."""
    from cai_lang.codegen.schema import bundle_schema_json

    typer.echo(bundle_schema_json(), nl=False)


def _read_conversation(path: Path | None) -> dict[str, Any]:
    """A conversation file: a list of {role, content}, or an object with `conversation` and any of
    `critique`, `response_a`, `response_b`, `reasoning`."""
    if path is None:
        return {}
    try:
        data = json.loads(read_bytes_gated(path).decode("utf-8"))
    except OSError as exc:
        raise _fail(describe_os_error(exc, "read", path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(f"{path} is not JSON: {exc}")
    if isinstance(data, list):
        data = {"conversation": data}
    if not isinstance(data, dict) or not isinstance(data.get("conversation", []), list):
        raise _fail(f"{path}: expected a list of messages or an object with a `conversation` list")
    for turn in data.get("conversation", []):
        if not (isinstance(turn, dict) and isinstance(turn.get("role"), str) and isinstance(turn.get("content"), str)):
            raise _fail(f"{path}: every message needs a string `role` and `content`")
    unknown = set(data) - set(PLACEHOLDERS)
    if unknown:
        raise _fail(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(PLACEHOLDERS)}")
    return data


def render_command(
    file: Path = typer.Argument(..., help="The `.const` file.", show_default=False),
    principle: str = typer.Option(..., "--principle", "-p", help="Id of a principle or rule, e.g. `helpful` or `harmless.least_harmful`."),
    phase: Phase = typer.Option(..., "--phase", help="Which prompt to render."),
    dialect: RenderDialect = typer.Option(
        RenderDialect.chat, "--dialect", help="`chat` (messages for instruct models), `text` (base models), or `paper` (`text` with the 2022 paper's comparison layout)."
    ),
    conversation: Optional[Path] = typer.Option(None, "--conversation", "-c", help="JSON: a list of {role, content}, or an object with `conversation`, `critique`, `response_a`, `response_b`, `reasoning`."),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Render for this deployment (default: `default`)."),
    as_json: bool = typer.Option(False, "--json", help="Print chat messages as JSON rather than as readable turns."),
) -> None:
    """Print a rendered prompt, to preview what the model will see."""
    from cai_lang.codegen.templates import render_prompt

    given = _read_conversation(conversation)
    (bundle,) = _compile(file, deployment)
    values = {**PLACEHOLDERS, **given}
    if "conversation" not in given and phase.value.startswith("compare"):
        values["conversation"] = PLACEHOLDERS["conversation"][:1]
    try:
        bundle.item(principle)
    except KeyError as exc:
        known = ", ".join(e.id for e in (*bundle.principles, *bundle.rules))
        raise _fail(f"{exc.args[0]}; enabled: {known}")
    try:
        rendered = render_prompt(bundle, principle, phase.value, dialect.value, **values)
    except ValueError as exc:
        raise _fail(str(exc))
    if isinstance(rendered, str):
        typer.echo(rendered)
    elif as_json:
        typer.echo(json.dumps(rendered, indent=2, ensure_ascii=False))
    else:
        typer.echo("\n\n".join(f"[{m['role']}]\n{m['content']}" for m in rendered))


def export_command(
    file: Path = typer.Argument(..., help="The `.const` file to export.", show_default=False),
    export_format: ExportFormat = typer.Option(..., "--format", "-f", help="`hf-cai`: the Hugging Face open CAI recipe's constitution JSON."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: print to stdout)."),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Export this deployment (default: `default`)."),
) -> None:
    """Export a constitution for other pipelines, keeping declaration order."""
    from cai_lang.codegen.hf_export import declaration_order, hf_cai_export

    (bundle,), constitution = _compile_checked(file, deployment)
    data, notes = hf_cai_export(bundle, declaration_order(constitution) if constitution is not None else None)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    _write_or_print(text, output, f"{export_format.value}, deployment {bundle.deployment.name}")


def import_command(
    file: Path = typer.Argument(..., help="The file to import.", show_default=False),
    import_format: ExportFormat = typer.Option(..., "--format", "-f", help="`hf-cai`: the Hugging Face open CAI recipe's constitution JSON."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The `.const` file to write (default: print to stdout)."),
) -> None:
    """Turn a constitution written for another pipeline into a `.const` file."""
    from cai_lang.syntax.hf_import import HfImportError, import_hf_cai

    try:
        text = read_bytes_gated(file).decode("utf-8-sig")
    except OSError as exc:
        raise _fail(describe_os_error(exc, "read", file))
    except UnicodeDecodeError as exc:
        raise _fail(f"{file} is not UTF-8 text: {exc.reason} at byte {exc.start}")
    name = (output or file).stem
    try:
        written = import_hf_cai(text, name, source=file.name)
    except HfImportError as exc:
        raise _fail(f"cannot import {file}: {exc}")
    _write_or_print(written, output, import_format.value)


def _write_or_print(text: str, output: Optional[Path], what: str) -> None:
    """`text` to `output` as UTF-8 (saying what was written), or to stdout without `--output`."""
    from cai_lang.files import write_atomic

    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomic(output, text)
    except OSError as exc:
        raise _fail(describe_os_error(exc, "write", output))
    typer.echo(f"wrote {output} ({what})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `caic` app."""
    app.command("compile")(compile_command)
    app.command("render")(render_command)
    app.command("export")(export_command)
    app.command("import")(import_command)
    app.command("schema")(schema_command)
