"""Prompt sets for data generation: where they come from and which prompts a run uses.

This module owns reading prompts (the two sets shipped with caic by name,
or a user's JSONL file, CSV file, or folder written by `datasets`'
`save_to_disk`) into `PromptRecord`s with their context labels, keeping
one split, and choosing a run's prompts: red-team prompts with a fraction of
helpful ones mixed in (the paper mixes helpful samples into SL-CAI so the
model does not learn only to refuse), capped and ordered by a seed so that
the same arguments always give the same list. That determinism is what lets
`--resume` pick up a killed run. Nothing here imports torch.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

from cai_lang import resources
from cai_lang.errors import CaicError, describe_os_error

Kind = Literal["red_team", "helpful"]
KINDS: tuple[str, ...] = ("red_team", "helpful")
SHIPPED: dict[str, Kind] = {"red_team": "red_team", "helpful": "helpful"}
SPLITS = ("train", "eval", "all")
# Split names other tools write (the Hub's `train_sft`/`test_prefs`, `validation`,
# `dev`) read as caic's two; a `datasets` folder with any other split is refused.
_TRAIN_SPLITS = ("train",)
_EVAL_SPLITS = ("eval", "test", "validation", "valid", "dev")


class PromptSetError(CaicError, ValueError):
    """A prompt source that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class PromptRecord:
    """One user prompt with what the trainer needs to know about it."""

    id: str
    prompt: str
    kind: Kind
    context: Mapping[str, Any] = field(default_factory=dict)
    split: str = "train"
    domain: str | None = None
    # Where the row came from (the source as given), for the selection summary.
    source: str = ""
    # The turns before `prompt` when the row is a conversation (`prompt` is its last user turn); empty otherwise.
    history: tuple[Mapping[str, str], ...] = ()
    # Context labels the feedback model inferred (`--infer-context`): per variable, value and probabilities.
    inferred: Mapping[str, Any] = field(default_factory=dict)
    # `caic redteam` rows: the region and attack style the prompt was written for (eval groups its rates by them).
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def turns(self) -> list[dict[str, str]]:
        """The conversation the model answers: the earlier turns, then the prompt as the user's turn."""
        return [*(dict(m) for m in self.history), {"role": "user", "content": self.prompt}]


def shipped_path(name: str) -> Path:
    """The file of a prompt set shipped with caic (`red_team` or `helpful`)."""
    return resources.data_dir() / "prompts" / f"{name}.jsonl"


def load_prompts(source: str | Path, *, kind: Kind | None = None, split: str = "all") -> list[PromptRecord]:
    """Read a prompt set: a shipped name, a `.jsonl` or `.csv` file, or a `datasets` folder.

    Rows need a `prompt`; `id` defaults to `STEM-NNNN` (line number),
    `context` to no labels, `split` to `train` (a row without a split is a
    training row), and `kind` to the `kind` argument, else the shipped set's
    kind, else `red_team`. `split` keeps only rows of that split (`all` keeps
    every row); a source with no row of that split is refused, naming the
    splits it has, rather than quietly contributing nothing.
    """
    if split not in SPLITS:
        raise PromptSetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    text = str(source)
    if text in SHIPPED:
        path = shipped_path(text)
        kind = kind or SHIPPED[text]
    else:
        path = Path(source)
    if not path.exists():
        names = ", ".join(SHIPPED)
        raise PromptSetError(f"no prompt set at {text!r} (give a .jsonl or .csv file, a `datasets` folder, or one of: {names})")
    if path.is_dir():
        raw = _read_dataset_folder(path)
    elif path.suffix.lower() == ".csv":
        raw = _read_csv(path)
    else:
        raw = read_jsonl(path)
    records = [_record(row, n, path, kind, text) for n, row in enumerate(raw, start=1)]
    _check_unique(records, path)
    kept = [r for r in records if split == "all" or r.split == split]
    if records and not kept:
        have = ", ".join(f"{name}: {count}" for name, count in sorted(Counter(r.split for r in records).items()))
        raise PromptSetError(
            f"{text}: no row has split {split!r} (its rows: {have}; a row without `split` counts as train); "
            f"choose one of those with --split, or --split all to use every row"
        )
    return kept


def read_jsonl(path: Path, error: "type[Exception] | None" = None) -> list[dict[str, Any]]:
    """One JSON object per non-blank line; `error` (default PromptSetError) names the line that is not."""
    error = error or PromptSetError
    rows = []
    lines = read_text(path, error).splitlines()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{n}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise error(f"{path}:{n}: expected a JSON object per line")
        rows.append(row)
    return rows


def read_text(path: Path, error: "type[Exception] | None" = None) -> str:
    """A data file's text through caic's one input gate (`cai_lang.files`: a regular file within the size
    limit, UTF-8 with or without a BOM); a refusal names the file and why (invalid bytes by line and column)."""
    from cai_lang.files import NotUTF8, read_text_gated

    error = error or PromptSetError
    try:
        return read_text_gated(path)
    except NotUTF8 as exc:
        raise error(exc.strerror) from None
    except OSError as exc:
        raise error(describe_os_error(exc, "read", path)) from exc


def _read_csv(path: Path) -> list[dict[str, Any]]:
    # A CSV cell cannot hold an object: `context` is JSON text, and columns
    # named `context.NAME` add one label each (true/false read as booleans).
    rows = list(csv.DictReader(io.StringIO(read_text(path), newline="")))
    out = []
    for n, row in enumerate(rows, start=2):
        context: dict[str, Any] = {}
        if row.get("context"):
            try:
                context = json.loads(row["context"])
            except json.JSONDecodeError as exc:
                raise PromptSetError(f"{path}:{n}: the `context` cell is not JSON ({exc.msg})") from exc
        for key, value in row.items():
            if key and key.startswith("context.") and value not in (None, ""):
                context[key[len("context.") :]] = _csv_label(value)
        cleaned = {k: v for k, v in row.items() if k and not k.startswith("context") and v not in (None, "")}
        out.append({**cleaned, "context": context})
    return out


def _csv_label(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value.strip()


def _read_dataset_folder(path: Path) -> list[dict[str, Any]]:
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError as exc:  # pragma: no cover - the train extra installs it
        raise PromptSetError(f"{path} is a folder; reading `datasets` folders needs `pip install caic[train]`") from exc
    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise PromptSetError(f"{path} is a folder but not one written by datasets' save_to_disk: {exc}") from exc
    if isinstance(data, DatasetDict):
        # Each split of a DatasetDict becomes the rows' `split` unless they name one.
        rows = []
        for name, part in data.items():
            split = folder_split(name)
            if split is None:
                raise PromptSetError(
                    f"{path}: split {name!r} is neither a training split ({_split_names(_TRAIN_SPLITS)}) nor a held-out "
                    f"one ({_split_names(_EVAL_SPLITS)}); save the prompts you want under one of those names"
                )
            rows.extend({"split": split, **row} for row in part)
        return rows
    return [dict(row) for row in data]


def folder_split(name: str) -> str | None:
    """caic's split for a `datasets` split name: `train`, `train_sft` → train; `test_sft`, `validation` → eval."""
    head = name.lower().split("_", 1)[0]
    if head in _TRAIN_SPLITS:
        return "train"
    if head in _EVAL_SPLITS:
        return "eval"
    return None


def _split_names(names: tuple[str, ...]) -> str:
    return ", ".join(f"{n}, {n}_*" for n in names)


def _record(row: Mapping[str, Any], n: int, path: Path, kind: Kind | None, source: str) -> PromptRecord:
    prompt, history = _prompt_of(row, n, path)
    context = row.get("context") or {}
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError as exc:
            raise PromptSetError(f"{path}: row {n}: `context` is not a JSON object") from exc
    if not isinstance(context, Mapping):
        raise PromptSetError(f"{path}: row {n}: `context` must be an object of labels")
    # datasets stores a struct column with None for labels a row lacks.
    context = {k: v for k, v in context.items() if v is not None}
    row_kind = row.get("kind") or kind or "red_team"
    if row_kind not in KINDS:
        raise PromptSetError(f"{path}: row {n}: kind {row_kind!r} is not one of {', '.join(KINDS)}")
    stem = path.stem if path.is_file() else path.name
    return PromptRecord(
        id=str(row.get("id") or f"{stem}-{n:04d}"),
        prompt=prompt,
        kind=row_kind,
        context=dict(context),
        split=str(row.get("split") or "train"),
        domain=row.get("domain"),
        source=source,
        history=history,
        tags={k: str(row[k]) for k in ("region", "style") if isinstance(row.get(k), str)},
    )


def _prompt_of(row: Mapping[str, Any], n: int, path: Path) -> tuple[str, tuple[dict[str, str], ...]]:
    # A conversation is a `messages` list (trl's format), a `prompt` that is a
    # list, or a `prompt` transcript starting "Human:"; its last turn is the user's.
    from cai_lang.train.run.conversation import is_transcript, prompt_turns

    prompt = row.get("prompt")
    value = row.get("messages")
    if value is None and (isinstance(prompt, list) or (isinstance(prompt, str) and is_transcript(prompt))):
        value = prompt
    if value is None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise PromptSetError(f"{path}: row {n} has no `prompt` text (nor `messages`)")
        return prompt, ()
    if isinstance(value, str) and not is_transcript(value):
        try:
            value = json.loads(value)  # a CSV cell holds a message list as JSON text
        except json.JSONDecodeError:
            raise PromptSetError(f"{path}: row {n}: `messages` is neither a list of messages nor a Human:/Assistant: transcript") from None
    try:
        turns = prompt_turns(value, f"{path}: row {n}")
    except ValueError as exc:
        raise PromptSetError(str(exc)) from None
    return turns[-1]["content"], tuple(turns[:-1])


def _check_unique(records: Iterable[PromptRecord], where: Path | str) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise PromptSetError(f"{where}: prompt id {record.id!r} appears more than once; ids must be unique")
        seen.add(record.id)


@dataclass(frozen=True)
class PromptSelection:
    """Which prompts a data-generation run uses; part of what `--resume` checks."""

    sources: tuple[str, ...] = ("red_team",)
    helpful: str | None = "helpful"
    helpful_fraction: float = field(
        default=0.25, metadata={"help": "Share of the selected prompts drawn from the helpful set (0 disables)."}
    )
    split: str = "train"
    max_prompts: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.helpful_fraction < 1:
            raise PromptSetError("the helpful fraction must be at least 0 and below 1")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise PromptSetError("max prompts must be at least 1")


def select_prompts(selection: PromptSelection) -> list[PromptRecord]:
    """The run's prompts, in the order they are generated: the same selection always gives the same list.

    Red-team prompts come from `sources`; a `helpful_fraction` share of the
    result comes from `helpful` (prompts a source marks `helpful` count
    toward it too). With `max_prompts`, a seeded sample of each kind keeps
    that share. The two kinds are then shuffled together with the seed.
    A source the user named is used as given or refused (`load_prompts`):
    nothing is ever filled in from the shipped sets in its place.
    """
    return select_prompts_with_summary(selection)[0]


def select_prompts_with_summary(selection: PromptSelection) -> tuple[list[PromptRecord], list[str]]:
    """`select_prompts`, plus one line per source saying how many rows of which split and kind were used."""
    pool: list[PromptRecord] = []
    for source in selection.sources:
        pool.extend(load_prompts(source, split=selection.split))
    red = [r for r in pool if r.kind == "red_team"]
    helpful = [r for r in pool if r.kind == "helpful"]
    if selection.helpful and selection.helpful_fraction > 0:
        helpful.extend(load_prompts(selection.helpful, kind="helpful", split=selection.split))
    rng = random.Random(f"prompts:{selection.seed}")
    n_red, n_helpful = _counts(len(red), len(helpful), selection.helpful_fraction, selection.max_prompts)
    chosen = _sample(red, n_red, rng) + _sample(helpful, n_helpful, rng)
    rng.shuffle(chosen)
    _check_unique(chosen, "the selected prompts")
    if not chosen:
        raise PromptSetError(f"no prompts selected (split {selection.split!r}, sources {', '.join(selection.sources)})")
    return chosen, summarise(chosen, red + helpful, selection.split)


def summarise(chosen: Sequence[PromptRecord], available: Sequence[PromptRecord], split: str) -> list[str]:
    """`N prompts (split S)` and, per source, `used of available` by split and kind."""
    used = Counter((r.source, r.split, r.kind) for r in chosen)
    have = Counter((r.source, r.split, r.kind) for r in available)
    lines = [f"prompts: {len(chosen)} selected (split {split})"]
    for source in dict.fromkeys(r.source for r in available):
        where = f"{source} (shipped with caic)" if source in SHIPPED else source
        parts = [
            f"{used[key]} of {count} {key[1]} {key[2]}"
            for key, count in sorted(have.items())
            if key[0] == source
        ]
        lines.append(f"  {where}: {', '.join(parts)}")
    return lines


def _counts(n_red: int, n_helpful: int, fraction: float, cap: int | None) -> tuple[int, int]:
    if fraction <= 0 or n_helpful == 0:
        return (min(n_red, cap) if cap else n_red), 0
    if n_red == 0:
        return 0, min(n_helpful, cap) if cap else n_helpful
    if cap is None:
        # Every red-team prompt, and helpful ones so they make up `fraction` of the whole.
        want = round(n_red * fraction / (1 - fraction))
        return n_red, min(n_helpful, want)
    helpful = min(n_helpful, round(cap * fraction))
    red = min(n_red, cap - helpful)
    return red, min(n_helpful, cap - red)


def _sample(records: list[PromptRecord], n: int, rng: random.Random) -> list[PromptRecord]:
    if n >= len(records):
        return list(records)
    return rng.sample(records, n)
