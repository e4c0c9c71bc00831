"""`caic serve reward` (the constitution as an HTTP reward model) and `caic export-data` (a run's data for verl
or OpenRLHF); registered on the app by `cai_lang.cli.app`. The server and the exports live in `cai_lang.judge`,
imported inside the commands so that `caic check` never pays for them."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import List, Optional

import typer

from cai_lang.cli.common import fail as _fail


class Engine(str, enum.Enum):
    verl = "verl"
    openrlhf = "openrlhf"


class Mode(str, enum.Enum):
    priority = "priority"
    sample = "sample"


class JudgeDialect(str, enum.Enum):
    chat = "chat"
    text = "text"
    paper = "paper"


def register(app: typer.Typer) -> None:
    """Add `caic serve reward` and `caic export-data` to the app."""
    serve_app = typer.Typer(help="Serve the constitution to other programs.", no_args_is_help=True)
    serve_app.command("reward")(serve_reward)
    app.add_typer(serve_app, name="serve")
    app.command("export-data")(export_data)


def serve_reward(
    file: Path = typer.Argument(..., help="The `.const` file whose bundle judges.", show_default=False),
    model: List[str] = typer.Option([], "--model", "-m", help="Feedback model: a folder, a Hub id, URL#NAME or URL1,URL2#NAME; repeat for an ensemble."),
    preference_model: Optional[Path] = typer.Option(None, "--preference-model", help="Reward with this trained preference model's scores (a run's preference_model/) instead of comparisons."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; the default is loopback only (the server has no authentication)."),
    port: int = typer.Option(8100, "--port", help="Port to listen on."),
    deployment: Optional[str] = typer.Option(None, "--deployment", "-d", help="Judge with this deployment's bundle (default: `default`)."),
    mode: Mode = typer.Option(Mode.priority, "--mode", help="`priority` (tiers decide) or `sample` (one weighted item per pair)."),
    margin: float = typer.Option(0.05, "--margin", help="Priority mode: a tier decides when its verdict is this far from 0.5."),
    dialect: JudgeDialect = typer.Option(JudgeDialect.chat, "--dialect", help="Dialect of the comparison prompts."),
    served_model: Optional[str] = typer.Option(None, "--served-model", help="The model name a server URL serves (or write URL#NAME)."),
    server_tokenizer: Optional[str] = typer.Option(None, "--server-tokenizer", help="The served model's tokenizer: server labels are then scored exactly from prompt log-probabilities."),
    device: str = typer.Option("auto", "--device", help="Device of a local feedback model."),
    batch_size: int = typer.Option(32, "--batch-size", help="Forward-pass batch size of a local feedback model."),
    max_batch: int = typer.Option(64, "--max-batch", help="Most responses judged together from concurrent requests."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", help="How long the first waiting request waits for others to join its batch (requests that arrive while a batch is judged join the next one anyway)."),
) -> None:
    """Serve the constitution as a reward model over HTTP: caic's JSON protocol (POST /judge) and OpenRLHF's (POST /openrlhf)."""
    from cai_lang.cli.boundary import guarded
    from cai_lang.cli.compile import _compile
    from cai_lang.judge import Judge, JudgeOptions
    from cai_lang.judge.server import serve
    from cai_lang.train.run.model_specs import ServerSettings, check_model

    if not 0 < port < 65536:
        raise _fail(f"--port {port} is not a TCP port (1-65535)")
    if bool(model) == (preference_model is not None):
        raise _fail("give the feedback model(s) with --model, or a trained preference model with --preference-model (one of the two)")
    if max_batch < 1 or max_wait_ms < 0:
        raise _fail("--max-batch must be at least 1 and --max-wait-ms at least 0")
    (bundle,) = _compile(file, deployment)
    server = ServerSettings(served_model=served_model, tokenizer=server_tokenizer)
    options = JudgeOptions(mode=mode.value, margin=margin, dialect=dialect.value, device=device, batch_size=batch_size, server=server)

    def start() -> None:
        for spec in model:
            check_model(spec, server)
        if preference_model is not None:
            check_model(str(preference_model), server, trainable=True)
        opened = Judge.open(bundle, model, options) if model else Judge.open_preference_model(bundle, preference_model, options)
        with opened as judge:
            stats = serve(judge, host=host, port=port, max_batch=max_batch, max_wait=max_wait_ms / 1000.0,
                          say=lambda line: typer.echo(line, err=True))
        typer.echo(f"served {stats.get('responses', 0)} rewards in {stats.get('batches', 0)} batches "
                   f"({stats.get('rewards_per_second', 0.0):.2f} rewards/s while busy), {stats.get('failed', 0)} failed", err=True)

    guarded(start, nothing="nothing served")


def export_data(
    run: Path = typer.Argument(..., help="A caic run folder (what `caic train` or `caic generate` wrote).", show_default=False),
    engine: Engine = typer.Option(..., "--engine", help="Write the layout `verl` (parquet) or `openrlhf` (jsonl) reads."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to write the files and manifest.json into."),
) -> None:
    """Export a run's SL rows, labelled preferences and RL prompts for verl or OpenRLHF, with the bundle hash."""
    from cai_lang.errors import describe_os_error
    from cai_lang.judge.export import ExportError, export_run

    try:
        manifest = export_run(run, engine.value, output)
    except ExportError as err:
        raise _fail(str(err))
    except OSError as err:
        raise _fail(describe_os_error(err, "write", fallback=output))
    for name, entry in manifest["files"].items():
        typer.echo(f"{output / entry['path']}: {entry['rows']} {name} rows")
