"""Keeping the model libraries' own progress bars and notices off the terminal while caic reports progress.

The CLI calls `quiet_libraries()` before a command that loads models; the
libraries are imported here, in the engine, so that nothing outside
`engine/`, `train/` and `eval/` imports them. `CAIC_VERBOSE=1` keeps them all.
"""

from __future__ import annotations


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
