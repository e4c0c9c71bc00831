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

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from cai_lang import api
from cai_lang.codegen.bundle import Bundle
from cai_lang.engine.base import GenerationBackend, Prompt, SamplingParams, per_request
from cai_lang.train.decoding import DIALECTS, TEXT_STOPS, call_seed, check_long_prompts, fit_prompts, response_prompt
from cai_lang.train.run.context_labels import clean_labels
from cai_lang.train.run.folder import RowWriter
from cai_lang.train.run.prompts import PromptRecord
from cai_lang.train.run.work import ChunkWork, WorkCallback
from cai_lang.train.sl.sampling import NoApplicablePrinciple, PrincipleSampler
from cai_lang.train.thinking import ThinkingStats, strip_thinking

_DEFAULT_EARLY_STOP = api.default_early_stop()

# The compiler's default early stop, for tests and callers that build prompts by hand.
NO_CHANGES = _DEFAULT_EARLY_STOP.reply
CRITIQUE_INSTRUCTION = " " + _DEFAULT_EARLY_STOP.instruction
# Base models continue the transcript; these mark where the next turn of it would start.

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
    long_prompts: str = field(default="skip", metadata={"help": "A prompt longer than the model's context: `skip` it or `truncate` it from the left."})
    infer_context: bool = field(default=False, metadata={"help": "The critic infers missing or unknown context labels from the schema."})
    critic_dialect: str | None = field(default=None, metadata={"help": "Dialect of the critique prompts; None: `dialect`."})
    early_stop: bool = field(default=True, metadata={"help": "Append the bundle's early-stop sentence to critique requests and stop a prompt's rounds on its reply; False: the paper's prompts, every round run."})

    @property
    def critique_dialect(self) -> str:
        return self.critic_dialect or self.dialect

    def __post_init__(self) -> None:
        check_long_prompts(self.long_prompts)
        if self.rounds < 0:
            raise ValueError("rounds must be at least 0")
        if self.dialect not in DIALECTS or self.critic_dialect not in (None, *DIALECTS):
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
    # The seed each request for this prompt carried (`response`, `critique-N`, `revision-N`), for the row.
    seeds: dict = field(default_factory=dict)
    # Texts of this prompt a reasoning model wrapped in <think>...</think>, kept without it.
    thinking: ThinkingStats = field(default_factory=ThinkingStats)

    @property
    def conversation(self) -> list[dict[str, str]]:
        return [*self.record.turns, {"role": "assistant", "content": self.current}]


@dataclass
class SLStats:
    oversize: list = field(default_factory=list)  # run.fit.Oversize, one per prompt over the context
    lengths_checked: bool = False
    context_lines: list = field(default_factory=list)  # what --infer-context inferred, for the terminal
    written: int = 0
    already_present: int = 0
    stopped_early: int = 0
    no_principle: int = 0
    chunks_run: int = 0


def seeded(config: SLGenerationConfig, seed: int, work: Sequence[_InFlight], step: str) -> SamplingParams:
    """The call's sampling settings with one seed per request, derived from the call's seed and the row's id
    (so a server samples each prompt independently), each recorded on its row under `step`."""
    params = per_request(config.sampling(seed), len(work), [w.record.id for w in work])
    for w, request in zip(work, params.request_seeds or ()):
        w.seeds[step] = request
    return params


def generate_chunk(
    records: Sequence[PromptRecord],
    *,
    policy: GenerationBackend,
    critic: GenerationBackend | None,
    bundle: Bundle,
    config: SLGenerationConfig,
    chunk_index: int = 0,
    sampler: PrincipleSampler | None = None,
    on_done: Callable[[list[_InFlight]], None] | None = None,
    chunk_work: ChunkWork | None = None,
) -> list[_InFlight]:
    """Run the whole SL-CAI loop for one chunk of prompts, batched per step.

    `on_done(prompts)` is called as prompts leave the loop (a helpful
    prompt once answered, a red-team one when it stops early, has no
    principle left or ends its last round), each prompt exactly once, so a
    progress bar moves inside a chunk; it changes nothing that is generated.
    `chunk_work` is told what each step will ask of the engine, for a
    progress display finer than prompts.

    Every call names its rows (`generate_rows`), so a backend that keeps a
    transcript's cache reads only what each step adds to it; a row's cache
    is released as soon as the row leaves the loop, and all of the chunk's
    when the chunk ends (see docs/engine.md, prefix reuse).
    """
    critic = critic or policy
    backends = [policy] if critic is policy else [policy, critic]
    keys = [("sl", chunk_index, i) for i in range(len(records))]
    try:
        return _run_chunk(records, keys, policy=policy, critic=critic, bundle=bundle, config=config,
                          chunk_index=chunk_index, sampler=sampler or PrincipleSampler(bundle, config.seed),
                          on_done=on_done or (lambda done: None), chunk_work=chunk_work or ChunkWork(None, 0))
    finally:
        for backend in backends:
            backend.release_rows(keys)


def _run_chunk(records, keys, *, policy, critic, bundle, config, chunk_index, sampler, on_done, chunk_work) -> list[_InFlight]:
    work = []
    for record in records:
        labels, unknown = clean_labels(bundle, record.context)
        work.append(_InFlight(record, labels, unknown))
    key = {id(w): k for w, k in zip(work, keys)}

    def release(done: list[_InFlight]) -> None:
        for backend in {id(b): b for b in (policy, critic)}.values():
            backend.release_rows([key[id(w)] for w in done])
        if done:
            on_done(done)

    # Every red-team prompt may need a critique and a revision each round.
    chunk_work.need(len(work) + 2 * config.rounds * sum(w.record.kind == "red_team" for w in work))
    with chunk_work.call(len(work)):
        answers = policy.generate_rows(
            [response_prompt(w.record.turns, config.dialect) for w in work],
            seeded(config, call_seed(config.seed, chunk_index, 0, "response"), work, "response"),
            rows=[key[id(w)] for w in work],
        )
    for w, answer in zip(work, answers):
        w.initial = w.current = strip_thinking(answer, w.thinking)

    stop_reply = bundle.early_stop.reply if bundle.early_stop is not None else None
    active = [w for w in work if w.record.kind == "red_team"]
    release([w for w in work if w.record.kind != "red_team"])
    for round_index in range(config.rounds):
        items = {}
        for w in active:
            try:
                items[w.record.id] = sampler.draw(w.record.id, round_index, w.labels)
            except NoApplicablePrinciple:
                w.no_principle = True
        release([w for w in active if w.no_principle])
        active = [w for w in active if not w.no_principle]
        if not active:
            break
        rounds_after = config.rounds - round_index - 1
        chunk_work.need(len(active) * (2 + 2 * rounds_after))
        with chunk_work.call(len(active)):
            critiques = critic.generate_rows(
                [critique_prompt(bundle, items[w.record.id].id, w.conversation, config.critique_dialect) for w in active],
                seeded(config, call_seed(config.seed, chunk_index, round_index, "critique"), active, f"critique-{round_index + 1}"),
                rows=[key[id(w)] for w in active],
            )
        revising = []
        for w, critique in zip(active, critiques):
            critique = strip_thinking(critique, w.thinking)
            entry = {"principle": items[w.record.id].id, "critique": critique, "revision": None, "nothing_to_fix": False}
            w.rounds.append(entry)
            if finds_nothing_to_fix(critique, stop_reply):
                entry["nothing_to_fix"] = True
                w.stopped_early = True
            else:
                revising.append((w, entry))
        release([w for w in active if w.stopped_early])
        chunk_work.need(len(revising) * (1 + 2 * rounds_after))
        if revising:
            with chunk_work.call(len(revising)):
                revisions = policy.generate_rows(
                    [
                        revision_prompt(bundle, entry["principle"], w.conversation, entry["critique"], config.dialect)
                        for w, entry in revising
                    ],
                    seeded(config, call_seed(config.seed, chunk_index, round_index, "revision"), [w for w, _ in revising],
                           f"revision-{round_index + 1}"),
                    rows=[key[id(w)] for w, _ in revising],
                )
            for (w, entry), revision in zip(revising, revisions):
                entry["revision"] = strip_thinking(revision, w.thinking)
                w.current = entry["revision"]
        active = [w for w, _ in revising]
    chunk_work.need(0)  # a loop that ended early needs nothing more
    # Those still in the loop after the last round are done too (their rows are released by the caller).
    if active:
        on_done(active)
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
        "request_seeds": w.seeds,
        "content_hash": bundle.content_hash,
        "constitution": bundle.constitution.name,
        "deployment": bundle.deployment.name,
        "dialect": config.dialect,
        "model": model,
        "critic_model": critic_model,
        "conversation": record.turns,
        "messages": [*record.turns, {"role": "assistant", "content": w.current}],
        # Only reasoning models' rows carry it: how many of their texts lost a thinking block.
        **({"thinking_stripped": w.thinking.stripped} if w.thinking.stripped else {}),
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
    on_work: WorkCallback | None = None,
) -> SLStats:
    """Generate every prompt's row into `writer`, skipping ids it already holds.

    `on_rows(n)` is called, for progress bars, with the number of missing
    prompts just finished: as they leave a chunk's loop, and the rest once
    the chunk's rows are written. Over a chunk the calls add up to the rows
    it wrote, so a resumed run (which redoes a half-written chunk) counts
    no prompt twice. `on_work(done, total, pending)` reports the engine
    inputs of the current chunk (`run.work.ChunkWork`), so a display moves
    between prompt counts. `model_id` and `critic_model_id` are what
    the rows record (default: the backends' own ids).
    """
    stats = SLStats()
    if not config.early_stop:
        # The paper's critique requests carry no "reply ... if nothing to fix" sentence, and every round runs.
        bundle = bundle.model_copy(update={"early_stop": None})
    records, stats.oversize, stats.lengths_checked = fit_prompts(
        records, policy, bundle, config.dialect, config.long_prompts, phase="revision", generated=3 * config.max_new_tokens
    )
    cut = {e.id: e.to_dict() for e in stats.oversize if e.action == "truncated"}
    if config.infer_context:
        from cai_lang.train.run.context_labels import infer_context, inference_lines

        records = infer_context(records, critic or policy, bundle, config.critique_dialect)
        stats.context_lines = inference_lines(records)
    sampler = PrincipleSampler(bundle, config.seed)
    model_id = model_id or policy.model_id
    critic_id = critic_model_id or (critic or policy).model_id
    for chunk_index, start in enumerate(range(0, len(records), config.chunk_size)):
        chunk = list(records[start : start + config.chunk_size])
        missing = [r for r in chunk if r.id not in writer]
        stats.already_present += len(chunk) - len(missing)
        if not missing:
            continue
        wanted = {r.id for r in missing}
        counted: set[str] = set()
        chunk_work = ChunkWork(on_work, len(missing), [policy, critic])

        def finished(done: list[_InFlight]) -> None:
            new = {w.record.id for w in done} & (wanted - counted)
            counted.update(new)
            chunk_work.finished(len(new))
            if on_rows and new:
                on_rows(len(new))

        # The whole chunk is redone so every call sees the batch it saw the first time.
        with chunk_work:
            done = generate_chunk(
                chunk, policy=policy, critic=critic, bundle=bundle, config=config, chunk_index=chunk_index, sampler=sampler,
                on_done=finished, chunk_work=chunk_work,
            )
        stats.chunks_run += 1
        for w in done:
            if w.record.id in writer:
                continue
            row = row_of(w, bundle=bundle, config=config, model=model_id, critic_model=critic_id)
            if w.record.id in cut:
                row["truncated"] = cut[w.record.id]
            if w.record.inferred:
                row["inferred_context"] = dict(w.record.inferred)
            writer.append(row)
            stats.written += 1
            stats.stopped_early += w.stopped_early
            stats.no_principle += w.no_principle
        if on_rows and len(missing) > len(counted):
            on_rows(len(missing) - len(counted))
    return stats
