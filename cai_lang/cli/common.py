"""What the `caic` command modules share: exit codes, the usage-error exit,
the option choices more than one command offers, and keeping the model
libraries' own progress bars off the terminal."""

from __future__ import annotations

import enum

import typer

USAGE_ERROR = 2  # bad arguments, unreadable input, unloadable model
HAS_ERRORS = 1  # the constitution has errors (or --strict and warnings)


def fail(message: str, code: int = USAGE_ERROR) -> typer.Exit:
    """Print `error: message` on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


class Dialect(str, enum.Enum):
    chat = "chat"
    text = "text"


class Split(str, enum.Enum):
    train = "train"
    eval = "eval"
    all = "all"


def quiet_libraries() -> None:
    """Keep caic's own progress lines; silence the libraries' per-step bars
    ("Loading weights", "Tokenizing train dataset") unless CAIC_VERBOSE is set."""
    import os
    import warnings

    if os.environ.get("CAIC_VERBOSE"):
        return
    # Deprecation notices about the libraries' own internals (trl calling
    # renamed transformers methods) are not the user's to act on.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\..*)?")
    try:
        import datasets
        import huggingface_hub.utils
        import transformers

        datasets.disable_progress_bars()
        huggingface_hub.utils.disable_progress_bars()
        transformers.logging.disable_progress_bar()
        transformers.logging.set_verbosity_error()
    except ImportError:
        pass
