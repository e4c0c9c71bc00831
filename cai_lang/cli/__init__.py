"""The `caic` command line.

`fast.py` is the console entry point: it runs a plain `caic check` without
importing typer and hands everything else to the typer application in
`app.py`, which registers the command groups (`compile.py`, `editor.py`,
`train.py`, `eval.py`). `run_check.py` prints check reports for both paths.
Nothing outside this package imports it.

`app` is loaded on first use, so importing `cai_lang.cli.fast` stays cheap.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("app", "main"):
        from cai_lang.cli import app as _app_module

        return getattr(_app_module, name)
    raise AttributeError(name)
