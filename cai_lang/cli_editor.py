"""`caic` commands for the editor side of the tool; registered on the app by `cai_lang.cli`.

Heavy imports stay inside the command bodies so that `caic check` starts fast.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `caic` app."""
