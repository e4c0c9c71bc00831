"""The `caic` entry point, with a fast path for `caic check`.

`caic check` runs in editors, pre-commit hooks and CI on every save, so its
start-up time is part of the product. Its arguments are simple enough to
read without typer (which, with click and rich, costs more to import than
the check itself on a small file), so `main` handles a plain `caic check`
here and hands everything else (help, other commands, anything unusual) to
the typer application in `cai_lang.cli.app`. Both paths run
`cai_lang.cli.run_check.run_check`.
"""

from __future__ import annotations

import os
import sys

from cai_lang.cli.run_check import FORMATS, run_check


def _fast_check(args: list[str]) -> int | None:
    """Run `caic check` from its arguments, or None when typer should handle them."""
    files: list[str] = []
    deployment, output_format, strict, max_errors = None, "text", False, None
    index = 0
    while index < len(args):
        arg = args[index]
        name, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in ("--deployment", "-d", "--format", "-f", "--max-errors"):
            if inline:
                value = inline
            elif index + 1 < len(args):
                index += 1
                value = args[index]
            else:
                return None
            if name in ("--deployment", "-d"):
                deployment = value
            elif name == "--max-errors":
                if not value.isdigit():
                    return None  # typer prints the usage error
                max_errors = int(value)
            elif value in FORMATS:
                output_format = value
            else:
                return None
        elif arg == "--strict":
            strict = True
        elif arg == "--":
            files.extend(args[index + 1 :])
            break
        elif arg == "-":
            files.append(arg)  # standard input
        elif arg.startswith("-"):
            return None  # --help, unknown options: typer prints the usage
        else:
            files.append(arg)
        index += 1
    if not files:
        return None
    return run_check(files, deployment, output_format, strict, max_errors)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["check"]:
        try:
            status = _fast_check(args[1:])
            if status is not None:
                sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (`caic check ... | head`): not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            status = 1
        if status is not None:
            sys.exit(status)
    from cai_lang.cli.app import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
