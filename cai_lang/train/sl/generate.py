"""SL-CAI data generation: sample a response, then critique → revision rounds.

For each red-team prompt the policy answers; then, for up to `rounds`
rounds, one principle drawn for that prompt and round (`sampling`) is
turned into a critique request, the critic (the policy unless a separate
critic model is given) writes a critique, and the policy revises its answer
in the light of it. The prompts are the bundle's own templates
(rendered through `cai_lang.api`), in the chat or the text dialect. Helpful prompts are
answered once and kept as answered (see docs/training.md).

Throughput comes from batching across prompts: prompts are processed in
fixed chunks, and each step of a round (all critiques, then all revisions)
is one `generate` call for every prompt of the chunk still in the loop.
A chunk's rows are appended (and fsynced) once the chunk is done. Chunk
boundaries are fixed over the whole prompt list and the sampling seed of
every call derives from (seed, chunk, round, step), so a resumed run redoes
any chunk it had not finished in full and writes only the rows missing:
with a deterministic backend, the final file equals an uninterrupted run's.

The early stop belongs to the bundle (`Bundle.early_stop`, covered by its
content hash): its templates append an instruction to answer exactly
`early_stop.reply` when there is nothing to fix. A critique that says so
(`finds_nothing_to_fix`) ends that prompt's loop; the round is recorded with
no revision. A bundle without `early_stop` (compiled before it existed)
never stops early. A random tiny model will essentially never write the
sentence.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from cai_lang import api
from cai_lang.codegen.bundle import Bundle
from cai_lang.engine.base import GenerationBackend, Prompt, SamplingParams
from cai_lang.train.run.folder import RowWriter
from cai_lang.train.run.prompts import PromptRecord
from cai_lang.train.sl.sampling import (
    NoApplicablePrinciple,
    PrincipleSampler,
    clean_labels,
)

_DEFAULT_EARLY_STOP = api.default_early_stop()

# The compiler's default early stop, for tests and callers that build prompts by hand.
NO_CHANGES = _DEFAULT_EARLY_STOP.reply
CRITIQUE_INSTRUCTION = " " + _DEFAULT_EARLY_STOP.instruction
# Base models continue the transcript; these mark where the next turn of it would start.
TEXT_STOPS = ("\n\nHuman:", "\n\nCritiqueRequest:", "\n\nRevisionRequest:", "\n\n---")
DIALECTS = ("chat", "text")

_NO_CHANGES_RE = re.compile(r"^(?:critique\s*:\s*)?no\s+changes?\s+(?:are\s+|is\s+)?(?:needed|required|necessary)[.!]?$")


def finds_nothing_to_fix(critique: str, reply: str | None = NO_CHANGES) -> bool:
    """Whether a critique is the agreed "nothing to fix" answer `reply` (None: there is none).

    Case, surrounding quotes, markdown emphasis and a `Critique:` prefix are
    ignored, and for the default reply so are small wording variants ("No
    change is needed", "no changes required"). The sentence must be the
    whole critique or its whole first line: "No changes needed, except ..."
    is a critique, and the loop goes on.
    """
    text = critique.strip()
    if not text or reply is None:
        return False
    candidates = [_normalise(c) for c in (text, text.splitlines()[0])]
    if reply == NO_CHANGES:
        return any(_NO_CHANGES_RE.match(c) for c in candidates)
    wanted = _normalise(reply).rstrip(".!")
    return any(re.sub(r"^critique\s*:\s*", "", c).rstrip(".!") == wanted for c in candidates)


def _normalise(text: str) -> str:
    text = re.sub(r"[*_`\"'“”‘’]", "", text).strip().lower()
    return re.sub(r"\s+", " ", text)


@dataclass(frozen=True)
class SLGenerationConfig:
    """How SL-CAI data is generated; everything but `chunk_size` must match on `--resume`."""

    rounds: int = field(default=4, metadata={"help": "Most critique → revision rounds per red-team prompt (the paper uses 4)."})
    seed: int = field(default=0, metadata={"help": "Seeds principle draws and sampling."})
    max_new_tokens: int = field(default=128, metadata={"help": "Most tokens per response, critique and revision."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature; 0 decodes greedily."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    dialect: str = field(default="chat", metadata={"help": "`chat` (instruct models, chat template) or `text` (base models)."})
    chunk_size: int = field(default=32, metadata={"help": "Prompts processed together; rows are written when a chunk finishes."})

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError("rounds must be at least 0")
        if self.dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}")
        if self.chunk_size < 1:
            raise ValueError("chunk size must be at least 1")
        SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p)

    def resume_settings(self) -> dict[str, Any]:
        """The settings a resumed run must share with the run it continues."""
        return {k: v for k, v in asdict(self).items() if k != "chunk_size"}

    def sampling(self, seed: int) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            do_sample=self.temperature > 0,
            stop=TEXT_STOPS if self.dialect == "text" else (),
            seed=seed,
        )


# ---------------------------------------------------------------- prompts


def response_prompt(text: str, dialect: str) -> Prompt:
    """What the policy sees to answer a user prompt."""
    if dialect == "chat":
        return [{"role": "user", "content": text}]
    return f"Human: {text}\n\nAssistant:"


def critique_prompt(bundle: Bundle, item_id: str, conversation: list[dict[str, str]], dialect: str) -> Prompt:
    """The bundle's critique template for one item (it carries the bundle's early-stop instruction)."""
    return api.render_prompt(bundle, item_id, "critique", dialect, conversation=conversation)


def revision_prompt(
    bundle: Bundle, item_id: str, conversation: list[dict[str, str]], critique: str, dialect: str
) -> Prompt:
    """The bundle's revision template for one item and the critique just written."""
    return api.render_prompt(bundle, item_id, "revision", dialect, conversation=conversation, critique=critique)


# ---------------------------------------------------------------- the loop


@dataclass
class _InFlight:
    record: PromptRecord
    labels: dict[str, Any]
    unknown_labels: list[str]
    initial: str = ""
    current: str = ""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    no_principle: bool = False

    @property
    def conversation(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.record.prompt}, {"role": "assistant", "content": self.current}]


@dataclass
class SLStats:
    written: int = 0
    already_present: int = 0
    stopped_early: int = 0
    no_principle: int = 0
    chunks_run: int = 0


def call_seed(seed: int, chunk: int, round_index: int, step: str) -> int:
    """The sampling seed of one generate call: fixed by where it sits in the run, not by what ran before."""
    return random.Random(f"call:{seed}:{chunk}:{round_index}:{step}").getrandbits(31)


def generate_chunk(
    records: Sequence[PromptRecord],
    *,
    policy: GenerationBackend,
    critic: GenerationBackend | None,
    bundle: Bundle,
    config: SLGenerationConfig,
    chunk_index: int = 0,
    sampler: PrincipleSampler | None = None,
) -> list[_InFlight]:
    """Run the whole SL-CAI loop for one chunk of prompts, batched per step."""
    critic = critic or policy
    sampler = sampler or PrincipleSampler(bundle, config.seed)
    work = []
    for record in records:
        labels, unknown = clean_labels(bundle, record.context)
        work.append(_InFlight(record, labels, unknown))

    answers = policy.generate(
        [response_prompt(w.record.prompt, config.dialect) for w in work],
        config.sampling(call_seed(config.seed, chunk_index, 0, "response")),
    )
    for w, answer in zip(work, answers):
        w.initial = w.current = answer.strip()

    stop_reply = bundle.early_stop.reply if bundle.early_stop is not None else None
    active = [w for w in work if w.record.kind == "red_team"]
    for round_index in range(config.rounds):
        items = {}
        for w in active:
            try:
                items[w.record.id] = sampler.draw(w.record.id, round_index, w.labels)
            except NoApplicablePrinciple:
                w.no_principle = True
        active = [w for w in active if not w.no_principle]
        if not active:
            break
        critiques = critic.generate(
            [critique_prompt(bundle, items[w.record.id].id, w.conversation, config.dialect) for w in active],
            config.sampling(call_seed(config.seed, chunk_index, round_index, "critique")),
        )
        revising = []
        for w, critique in zip(active, critiques):
            critique = critique.strip()
            entry = {"principle": items[w.record.id].id, "critique": critique, "revision": None, "nothing_to_fix": False}
            w.rounds.append(entry)
            if finds_nothing_to_fix(critique, stop_reply):
                entry["nothing_to_fix"] = True
                w.stopped_early = True
            else:
                revising.append((w, entry))
        if revising:
            revisions = policy.generate(
                [
                    revision_prompt(bundle, entry["principle"], w.conversation, entry["critique"], config.dialect)
                    for w, entry in revising
                ],
                config.sampling(call_seed(config.seed, chunk_index, round_index, "revision")),
            )
            for (w, entry), revision in zip(revising, revisions):
                entry["revision"] = revision.strip()
                w.current = entry["revision"]
        active = [w for w, _ in revising]
    return work


def row_of(w: _InFlight, *, bundle: Bundle, config: SLGenerationConfig, model: str, critic_model: str | None) -> dict[str, Any]:
    """The dataset row of one finished prompt (see docs/training.md for every field)."""
    record = w.record
    return {
        "id": record.id,
        "prompt": record.prompt,
        "context": dict(record.context),
        "unknown_labels": w.unknown_labels,
        "kind": record.kind,
        "split": record.split,
        "initial_response": w.initial,
        "rounds": w.rounds,
        "principles": [r["principle"] for r in w.rounds],
        "final_response": w.current,
        "stopped_early": w.stopped_early,
        "no_principle": w.no_principle,
        "seed": config.seed,
        "content_hash": bundle.content_hash,
        "constitution": bundle.constitution.name,
        "deployment": bundle.deployment.name,
        "dialect": config.dialect,
        "model": model,
        "critic_model": critic_model,
        "messages": [
            {"role": "user", "content": record.prompt},
            {"role": "assistant", "content": w.current},
        ],
    }


def generate_sl(
    records: Sequence[PromptRecord],
    *,
    policy: GenerationBackend,
    bundle: Bundle,
    config: SLGenerationConfig,
    writer: RowWriter,
    critic: GenerationBackend | None = None,
    on_rows: Callable[[int], None] | None = None,
    model_id: str | None = None,
    critic_model_id: str | None = None,
) -> SLStats:
    """Generate every prompt's row into `writer`, skipping ids it already holds.

    `on_rows(n)` is called after each chunk with the number of rows it
    wrote, for progress bars. `model_id` and `critic_model_id` are what
    the rows record (default: the backends' own ids).
    """
    stats = SLStats()
    sampler = PrincipleSampler(bundle, config.seed)
    model_id = model_id or policy.model_id
    critic_id = critic_model_id or (critic or policy).model_id
    for chunk_index, start in enumerate(range(0, len(records), config.chunk_size)):
        chunk = list(records[start : start + config.chunk_size])
        missing = [r for r in chunk if r.id not in writer]
        stats.already_present += len(chunk) - len(missing)
        if not missing:
            continue
        # The whole chunk is redone so every call sees the batch it saw the first time.
        done = generate_chunk(
            chunk, policy=policy, critic=critic, bundle=bundle, config=config, chunk_index=chunk_index, sampler=sampler
        )
        stats.chunks_run += 1
        for w in done:
            if w.record.id in writer:
                continue
            writer.append(row_of(w, bundle=bundle, config=config, model=model_id, critic_model=critic_id))
            stats.written += 1
            stats.stopped_early += w.stopped_early
            stats.no_principle += w.no_principle
        if on_rows:
            on_rows(len(missing))
    return stats
