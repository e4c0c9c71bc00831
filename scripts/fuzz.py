"""A seeded mutation fuzzer for the `.const` front end, through the library API.

Run: `python scripts/fuzz.py --inputs 100000 [--seed 0] [--jobs 2] [--save tests/fixtures/fuzz]`.
Seeds are the shipped files (stdlib_constitutions/, examples/) and the test
fixtures (tests/fixtures/check, fmt, spec). Each input is a seed mutated 1-4
times (a stretch deleted, duplicated or moved, a line swapped, a character
replaced, a hostile token inserted: huge numbers, long names, control
characters, a BOM, stray braces and quotes) and is put through the oracle:

- `check_file` on the text (an overlay, so nothing is written), every
  diagnostic rendered as text, JSON and SARIF;
- `format_text` twice: formatting a formatted text must change nothing, and
  must keep every name and string (`words`); a `FormatterBug` counts as a
  fmt failure;
- when the check finds no error, every deployment compiled, its bundle
  serialised and rendered as Markdown and HF-CAI JSON; the file's `test`
  declarations run (`caic test`); and `caic diff` of the file against its
  formatted text runs and must find no change of behaviour (a change is a
  fmt failure: formatting changed what the file says).

Anything else that raises is an uncaught exception. Every failing input is
written to `--save` (default tests/fixtures/fuzz/) under its hash, where
`tests/test_fuzz.py` keeps replaying it. The summary line counts inputs,
uncaught exceptions and fmt failures; the exit status is 1 when either is
non-zero.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SEED_FOLDERS = ("stdlib_constitutions", "examples", "tests/fixtures/check", "tests/fixtures/fmt", "tests/fixtures/spec")
FIXTURES = REPO / "tests" / "fixtures" / "fuzz"

HOSTILE = [
    "{", "}", '"', '"""', "#", "\n", " ", ":", "|", ".", ",", "(", ")", "[", "]", "==", ">", "\\",
    "principle", "rule", "context", "deployment", "import", "weight", "critique", "compare", "detect regex",
    "applies when", "never", "always", "unless", "extends", "assume", "priority", "conflict", "vs", "prefer",
    "9" * 400, "1" * 309 + ".5", "-0", "0.0000000001", "1e309", "x" * 300, "std." + "a" * 300,
    '"' + "y" * 300 + '.const"', "\ufeff", "\x00", "\x1b[2J", "\u202e", "\r\n", "\t", "é", "🙂",
    '"(a+)+$"', '""', '"\\u{110000}"', '"\\q"', "not not not not", "(" * 120, ")" * 120,
    # issue 29: hidden characters, engine-dependent and slow detectors, unknown fields, detector tests
    "\u200b", "\u2066", "\u200f", "\u00ad", '"(?i)\u00e9$"', '"(?:a|aa)+(?<=c)$"', "reply", "verdict",
    'expect detect r "' + "a" * 40 + '"', "test t { expect never a }",
]


@dataclass
class Summary:
    inputs: int = 0
    uncaught: int = 0
    fmt_failures: int = 0
    formattable: int = 0
    compiled: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, traceback tail)

    def line(self, seconds: float) -> str:
        return (
            f"{self.inputs} inputs in {seconds:.0f} s: {self.uncaught} uncaught exceptions, "
            f"{self.fmt_failures} fmt failures ({self.formattable} formattable, {self.compiled} compiled)"
        )


def seed_texts() -> list[str]:
    texts = []
    for folder in SEED_FOLDERS:
        for path in sorted((REPO / folder).glob("*.const")):
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return texts


def mutate(text: str, rng: random.Random, others: list[str]) -> str:
    for _ in range(rng.randint(1, 4)):
        size = len(text)
        start = rng.randrange(size + 1)
        end = min(size, start + rng.choice((1, 2, 5, 20, 80)))
        kind = rng.randrange(7)
        if kind == 0:
            text = text[:start] + text[end:]
        elif kind == 1:
            text = text[:start] + text[start:end] * rng.randint(2, 4) + text[start:]
        elif kind == 2:
            text = text[:start] + rng.choice(HOSTILE) + text[start:]
        elif kind == 3:
            text = text[:start] + chr(rng.randrange(0x20, 0x7F)) + text[start + 1 :]
        elif kind == 4:
            lines = text.split("\n")
            if len(lines) > 2:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        elif kind == 5:
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            text = text[:start] + other[cut : cut + rng.choice((10, 100, 400))] + text[start:]
        else:
            text = text[:start]
    return text


def run_one(text: str, summary: Summary, folder: Path) -> str | None:
    """Put one input through the oracle; returns the failure kind, or None."""
    from cai_lang.api import check_file
    from cai_lang.codegen.compiler import compile_deployment
    from cai_lang.codegen.hf_export import hf_cai_json
    from cai_lang.codegen.markdown import render_markdown
    from cai_lang.diagnostics import render
    from cai_lang.lsp.formatting import FormatterBug, format_text, words
    from cai_lang.review.tests import Runner

    path = str(folder / "fuzz_input.const")
    compiled = False
    try:
        result = check_file(path, overlays={path: text}, display="fuzz_input.const")
        sources = result.program.source_by_display()
        for diagnostic in result.diagnostics:
            render.format_text(diagnostic, sources)
        json.loads(render.render_json(result.diagnostics))
        json.loads(render.render_sarif(result.diagnostics))
        if not result.errors and result.constitution is not None:
            for name in result.constitution.deployments:
                bundle = compile_deployment(result.constitution, name)
                bundle.model_dump_json()
                render_markdown(bundle)
                hf_cai_json(bundle)
            Runner(result).run()
            summary.compiled += 1
            compiled = True
    except Exception:  # noqa: BLE001 - the point is to catch everything
        summary.uncaught += 1
        summary.failures.append(("uncaught", traceback.format_exc(limit=-4)))
        return "uncaught"
    try:
        first = format_text(text, path)
        if first.text is not None:
            summary.formattable += 1
            second = format_text(first.text, path)
            if second.text != first.text:
                raise FormatterBug("formatting twice changed the text again")
            if words(first.text) != words(text):
                raise FormatterBug("formatting dropped or changed a name or a string")
            if compiled:
                _same_behaviour(text, first.text, folder)
    except FormatterBug:
        summary.fmt_failures += 1
        summary.failures.append(("fmt", traceback.format_exc(limit=-2)))
        return "fmt"
    except Exception:  # noqa: BLE001
        summary.uncaught += 1
        summary.failures.append(("uncaught", traceback.format_exc(limit=-4)))
        return "uncaught"
    return None


def _same_behaviour(text: str, formatted: str, folder: Path) -> None:
    """`caic diff` of a checked file against its formatted text finds no change (else FormatterBug)."""
    from cai_lang.lsp.formatting import FormatterBug
    from cai_lang.review.diff import diff_files

    old, new = folder / "diff_old" / "fuzz_input.const", folder / "diff_new" / "fuzz_input.const"
    for path, body in ((old, text), (new, formatted)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.encode("utf-8", errors="surrogatepass"))
    changes = diff_files(str(old), str(new)).changes
    if changes:
        raise FormatterBug(f"caic diff finds {len(changes)} changes between a file and its formatted text: {changes[0]}")


def save(text: str, kind: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]
    path = folder / f"{kind}_{digest}.const"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    return path


def fuzz(
    inputs: int, seed: int, save_to: Path | None, budget: float | None = None, folder: Path | None = None, progress: int = 0
) -> Summary:
    """Run `inputs` mutated inputs (or until `budget` seconds pass); returns the summary.

    With `progress`, a line goes to stdout every `progress` inputs.
    """
    import tempfile

    rng = random.Random(seed)
    seeds = seed_texts()
    summary = Summary()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        work = folder or Path(scratch)
        for _ in range(inputs):
            if budget is not None and time.monotonic() - started > budget:
                break
            text = mutate(rng.choice(seeds), rng, seeds)
            summary.inputs += 1
            kind = run_one(text, summary, work)
            if kind is not None and save_to is not None:
                save(text, kind, save_to)
            if progress and summary.inputs % progress == 0:
                print(f"[seed {seed}] {summary.line(time.monotonic() - started)}", flush=True)
    return summary


def _job(args: tuple[int, int, Path | None, int]) -> Summary:
    inputs, seed, save_to, progress = args
    return fuzz(inputs, seed, save_to, progress=progress)


def fuzz_parallel(inputs: int, seed: int, save_to: Path | None, jobs: int, progress: int = 0) -> Summary:
    """`inputs` split over `jobs` processes, each with its own seed derived from `seed`; summaries added up."""
    from multiprocessing import Pool

    shares = [inputs // jobs + (1 if k < inputs % jobs else 0) for k in range(jobs)]
    with Pool(jobs) as pool:
        parts = pool.map(_job, [(share, seed * 1009 + k, save_to, progress) for k, share in enumerate(shares)])
    total = Summary()
    for part in parts:
        total.inputs += part.inputs
        total.uncaught += part.uncaught
        total.fmt_failures += part.fmt_failures
        total.formattable += part.formattable
        total.compiled += part.compiled
        total.failures.extend(part.failures)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, default=FIXTURES, help="where failing inputs are kept")
    parser.add_argument("--jobs", type=int, default=1, help="processes to split the inputs over (each gets its own seed)")
    parser.add_argument("--progress", type=int, default=0, help="print a line every this many inputs per process")
    args = parser.parse_args()
    if str(REPO) not in sys.path:  # run as a script: use this checkout's cai_lang
        sys.path.insert(0, str(REPO))
    started = time.monotonic()
    if args.jobs > 1:
        summary = fuzz_parallel(args.inputs, args.seed, args.save, args.jobs, args.progress)
    else:
        summary = fuzz(args.inputs, args.seed, args.save, progress=args.progress)
    kinds: dict[str, int] = {}
    for kind, trace in summary.failures:
        last = trace.strip().splitlines()[-1]
        kinds[f"{kind}: {last}"] = kinds.get(f"{kind}: {last}", 0) + 1
    for text, count in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"{count:6} {text}")
    print(summary.line(time.monotonic() - started))
    sys.exit(1 if summary.uncaught or summary.fmt_failures else 0)


if __name__ == "__main__":
    main()
