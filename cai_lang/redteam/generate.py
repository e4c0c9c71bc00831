"""`caic redteam`: a generator model writes red-team prompts for every region × attack style.

The cells of a run are fixed by the regions (`regions.py`), the styles and
`per_region`: round 0 asks for `per_region` prompts per (region, style);
each later round asks again for the cells still short (an empty output, a
near-duplicate, a request too long for the generator). Cells are processed
in fixed chunks; every `generate` call of a chunk has a seed derived from
(seed, round, chunk, step), and decisions are written one row at a time in
cell order, kept rows to `redteam.jsonl` and rejected ones (with the
reason and the raw output) to `redteam_rejected.jsonl`. A resumed run
replays a chunk it had not finished and writes only the decisions missing;
the near-duplicate check compares with every kept row before the cell, and
those are exactly the rows on disk, so with a deterministic backend a kill
and a resume give the same files as an uninterrupted run.

Near-duplicates are found with rapidfuzz (`fuzz.ratio` on lower-cased,
whitespace-collapsed text; `similarity` is the cut-off, 0-100).
Nothing is fabricated: an output that is empty after trimming is rejected
as `empty`, and a row's prompt is exactly what the generator wrote, trimmed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from cai_lang.redteam import styles as st
from cai_lang.redteam.regions import RegionMap

PROMPTS_FILE = "redteam.jsonl"
REJECTED_FILE = "redteam_rejected.jsonl"
REGIONS_FILE = "regions.json"


@dataclass(frozen=True)
class RedteamSettings:
    """What `caic redteam` asks for; everything but `chunk_size` must match on `--resume`."""

    per_region: int = 2
    styles: tuple[str, ...] = tuple(st.STYLES)
    seed: int = 0
    rounds: int = 3
    shots: int = 3
    similarity: float = 90.0
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    dialect: str = "chat"
    chunk_size: int = field(default=32, compare=False)

    def __post_init__(self) -> None:
        unknown = [s for s in self.styles if s not in st.STYLES]
        if unknown:
            raise ValueError(f"unknown style {unknown[0]!r}; the styles are {', '.join(st.STYLES)}")
        if not self.styles:
            raise ValueError("give at least one style")
        if self.per_region < 1 or self.rounds < 1 or self.chunk_size < 1 or self.shots < 0:
            raise ValueError("--per-region, --rounds and --chunk-size must be at least 1, --shots at least 0")
        if not 0 < self.similarity <= 100:
            raise ValueError("--similarity is a percentage above 0 and at most 100")
        if self.dialect not in ("chat", "text"):
            raise ValueError("--dialect is chat or text")

    def resume_settings(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "chunk_size"}

    def sampling(self, seed: int):
        from cai_lang.engine.base import SamplingParams

        stops = ("\n\nHuman:", "\n\nAssistant:") if self.dialect == "text" else ()
        return SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p,
                              do_sample=self.temperature > 0, stop=stops, seed=seed)


@dataclass(frozen=True)
class Cell:
    region: Any
    style: str
    round: int
    index: int

    @property
    def id(self) -> str:
        return f"rt:{self.region.id}:{self.style}:{self.round}.{self.index}"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


class Ledger:
    """The decisions on disk: kept rows (in order, for the near-duplicate check) and rejected ones."""

    def __init__(self, kept_path: Path, rejected_path: Path):
        from cai_lang.train.run.folder import RowWriter, read_rows

        self.kept = RowWriter(kept_path)
        self.rejected = RowWriter(rejected_path)
        self.rows = read_rows(kept_path) if kept_path.exists() else []
        self.rejected_rows = read_rows(rejected_path) if rejected_path.exists() else []
        self.texts = [_norm(_text_of(r)) for r in self.rows]

    def decided(self, cell_id: str) -> bool:
        return cell_id in self.kept or cell_id in self.rejected

    def count(self, region_id: str, style: str, before_round: int) -> int:
        return sum(1 for r in self.rows if r["region"] == region_id and r["style"] == style and r["round"] < before_round)

    def near_duplicate(self, text: str, cutoff: float) -> tuple[str, float] | None:
        from rapidfuzz import fuzz, process

        if not self.texts:
            return None
        found = process.extractOne(_norm(text), self.texts, scorer=fuzz.ratio, score_cutoff=cutoff)
        return None if found is None else (self.rows[found[2]]["id"], round(found[1], 1))

    def keep(self, row: dict) -> None:
        self.kept.append(row)
        self.rows.append(row)
        self.texts.append(_norm(_text_of(row)))

    def reject(self, row: dict) -> None:
        self.rejected.append(row)
        self.rejected_rows.append(row)

    def close(self) -> None:
        self.kept.close()
        self.rejected.close()


def _text_of(row: dict) -> str:
    if "messages" in row:
        return "\n".join(m["content"] for m in row["messages"] if m["role"] == "user")
    return row["prompt"]


def shot_pools(regions: RegionMap, bundle) -> dict[str, list[tuple[str, str, dict]]]:
    """Seed prompts: shipped red-team and helpful prompts, and each principle's few-shot prompts."""
    from cai_lang.train.run.prompts import load_prompts

    pools = {kind: [(r.id, r.prompt, dict(r.context)) for r in load_prompts(kind)] for kind in ("red_team", "helpful")}
    for principle in bundle.principles:
        own = [(f"{principle.id}/example{n}", e.prompt, {}) for n, e in enumerate(principle.examples, 1) if e.prompt]
        pools[f"principle:{principle.id}"] = own
    return pools


def _shots(cell: Cell, pools, settings: RedteamSettings) -> list[tuple[str, str]]:
    import random

    rng = random.Random(st.seed_for("shots", settings.seed, cell.id))
    if cell.style == "benign":
        return st.choose_shots(pools["helpful"], cell.region.witness, settings.shots, rng)
    own = [(i, t) for target in cell.region.targets for i, t, _ in pools.get(f"principle:{target}", [])]
    picked = rng.sample(own, min(len(own), 1)) if own and settings.shots else []
    return picked + st.choose_shots(pools["red_team"], cell.region.witness, settings.shots - len(picked), rng)


def _generate(backend, prompts: list, params, settings: RedteamSettings) -> list[str | None]:
    """Outputs in order; None for a request too long for the generator's context (it is not sent)."""
    window = backend.context_window()
    fits = [window is None or (backend.count_tokens(p) or 0) + settings.max_new_tokens <= window for p in prompts]
    sent = [p for p, ok in zip(prompts, fits) if ok]
    out = iter(backend.generate(sent, params) if sent else [])
    return [next(out) if ok else None for ok in fits]


class Generator:
    def __init__(self, regions: RegionMap, bundle, backend, settings: RedteamSettings, generator: str, ledger: Ledger, say: Callable[[str], None]):
        self.regions, self.bundle, self.backend, self.settings = regions, bundle, backend, settings
        self.generator, self.ledger, self.say = generator, ledger, say
        self.pools = shot_pools(regions, bundle)

    def plan(self, round_: int) -> list[Cell]:
        cells = []
        for region in self.regions.regions:
            for style in self.settings.styles:
                missing = self.settings.per_region - self.ledger.count(region.id, style, round_)
                cells.extend(Cell(region, style, round_, i) for i in range(max(0, missing)))
        return cells

    def run(self) -> None:
        size = self.settings.chunk_size
        for round_ in range(self.settings.rounds):
            cells = self.plan(round_)
            if not cells:
                break
            chunks = [cells[i : i + size] for i in range(0, len(cells), size)]
            for number, chunk in enumerate(chunks):
                if all(self.ledger.decided(c.id) for c in chunk):
                    continue
                self.chunk(round_, number, chunk)
                self.say(f"round {round_ + 1}: chunk {number + 1} of {len(chunks)} done ({len(self.ledger.rows)} prompts kept)")

    def chunk(self, round_: int, number: int, cells: list[Cell]) -> None:
        s, dialect = self.settings, self.settings.dialect
        shots = [_shots(c, self.pools, s) for c in cells]
        seeds = [st.seed_for(s.seed, round_, number, step) for step in range(3)]
        first = _generate(self.backend, [st.as_prompt(st.first_request(c.region, c.style, sh), dialect) for c, sh in zip(cells, shots)], s.sampling(seeds[0]), s)
        outputs: list[dict] = [{"first": o} for o in first]
        escalating = [i for i, c in enumerate(cells) if c.style == "escalation" and first[i] is not None and st.clean(first[i])]
        replies = _generate(self.backend, [_answer_prompt(st.clean(first[i]), dialect) for i in escalating], s.sampling(seeds[1]), s)
        for i, reply in zip(escalating, replies):
            outputs[i]["reply"] = reply
        asking = [i for i in escalating if outputs[i]["reply"] is not None and st.clean(outputs[i]["reply"])]
        follow = _generate(
            self.backend,
            [st.as_prompt(st.follow_up_request(cells[i].region, shots[i], st.clean(first[i]), st.clean(outputs[i]["reply"])), dialect) for i in asking],
            s.sampling(seeds[2]), s,
        )
        for i, text in zip(asking, follow):
            outputs[i]["follow_up"] = text
        for cell, shot, output in zip(cells, shots, outputs):
            if not self.ledger.decided(cell.id):
                self.decide(cell, shot, output, seeds)

    def provenance(self, cell: Cell, shots, seeds) -> dict[str, Any]:
        return {
            "region": cell.region.id, "region_kind": cell.region.kind, "targets": list(cell.region.targets),
            "description": cell.region.description, "style": cell.style, "round": cell.round,
            "deployment": self.regions.deployment, "generator": self.generator, "seed": self.settings.seed,
            "sampling_seeds": seeds, "shots": [i for i, _ in shots], "content_hash": self.regions.content_hash,
        }

    def decide(self, cell: Cell, shots, output: dict, seeds) -> None:
        meta = self.provenance(cell, shots, seeds)
        reason, body = _usable(cell, output)
        if reason is None:
            duplicate = self.ledger.near_duplicate(_text_of(body), self.settings.similarity)
            if duplicate is not None:
                reason = f"near-duplicate of {duplicate[0]} (similarity {duplicate[1]})"
        if reason is not None:
            self.ledger.reject({"id": cell.id, "reason": reason, "output": output, **meta})
            return
        split = "eval" if st.seed_for("split", cell.id) % 5 == 0 else "train"
        kind = "helpful" if cell.style == "benign" else "red_team"
        self.ledger.keep({"id": cell.id, **body, "kind": kind, "context": dict(cell.region.witness), "split": split, **meta})


def _answer_prompt(opener: str, dialect: str):
    turns = [{"role": "user", "content": opener}]
    return turns if dialect == "chat" else f"\n\nHuman: {opener}\n\nAssistant:"


def _usable(cell: Cell, output: dict) -> tuple[str | None, dict]:
    """(None, the row's prompt fields) for a usable output; else (the reason, {})."""
    first = output.get("first")
    if first is None:
        return "the request was too long for the generator's context window", {}
    if not st.clean(first):
        return "empty output", {}
    if cell.style != "escalation":
        return None, {"prompt": st.clean(first)}
    reply, follow = output.get("reply"), output.get("follow_up")
    if reply is None or follow is None:
        missing = "assistant reply" if reply is None or not st.clean(reply or "") else "follow-up"
        if reply is not None and st.clean(reply) and follow is None:
            missing = "follow-up (too long for the context window)"
        return f"no usable {missing} for the conversation", {}
    if not st.clean(follow):
        return "empty follow-up", {}
    messages = [
        {"role": "user", "content": st.clean(first)},
        {"role": "assistant", "content": st.clean(reply)},
        {"role": "user", "content": st.clean(follow)},
    ]
    return None, {"messages": messages}


def write_regions(regions: RegionMap, path: Path) -> None:
    from cai_lang.train.run.folder import write_atomic

    payload = {"constitution": regions.constitution, "deployment": regions.deployment, "content_hash": regions.content_hash,
               "regions": [r.to_dict() for r in regions.regions], "empty": [r.to_dict() for r in regions.empty]}
    write_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
