"""RL-CAI preference data: two sampled responses per prompt, labelled against the constitution, chunk by chunk.

For every prompt the policy (by default the SL-CAI model) samples two
responses in one `generate` call; the comparison labeller asks the feedback
model(s) the constitution's comparison questions about the pair, and the
aggregator turns the per-principle verdicts into one soft label. Pairs and
labels go to two JSONL files through `RowWriter`, so a kill loses at most the
row being written.

Resume works as in the SL phase. Prompts are processed in chunks fixed over
the whole prompt list, and each chunk's sampling seed derives from (seed,
chunk) alone. A chunk with missing pairs is sampled again whole (the same
batch, so the same text with a deterministic backend) and only the missing
pairs are written; a chunk with missing labels is labelled again whole from
the pairs on disk, and only the missing labels are written. So a killed and
resumed run ends with the file an uninterrupted run writes, and a label
always describes the pair text that is on disk. Every row carries the
bundle's content hash, and rows made under another hash are refused.
Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

from cai_lang.codegen.bundle import Bundle
from cai_lang.engine.base import GenerationBackend, SamplingParams
from cai_lang.train.config import FEEDBACK_DIALECTS
from cai_lang.train.decoding import DIALECTS, TEXT_STOPS, call_seed, check_long_prompts, fit_prompts, response_prompt
from cai_lang.train.run.folder import RowWriter, RunError
from cai_lang.train.run.prompts import PromptRecord
from cai_lang.train.run.work import ChunkWork, WorkCallback

MODES = ("sample", "priority")
ENSEMBLES = ("mean", "vote")


@dataclass(frozen=True)
class RLGenerationConfig:
    """How pairs are sampled and labelled; everything but `chunk_size` must match on `--resume`."""

    seed: int = field(default=0, metadata={"help": "Seeds sampling and, in sample mode, the principle drawn per pair."})
    max_new_tokens: int = field(default=128, metadata={"help": "Most tokens per response (and per CoT reasoning)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature; must be above 0, or both responses are the same."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    dialect: str = field(default="chat", metadata={"help": "`chat` (instruct models) or `text` (base models), for sampling and labelling."})
    mode: str = field(default="priority", metadata={"help": "`priority` (tiers decide) or `sample` (one weighted principle per pair, as in the paper)."})
    margin: float = field(default=0.05, metadata={"help": "Priority mode: a tier decides when its verdict is this far from 0.5."})
    cot: bool = field(default=False, metadata={"help": "Let the feedback model reason before answering; labels are clamped."})
    clamp: tuple[float, float] = field(default=(0.4, 0.6), metadata={"help": "CoT only: the band labels are clamped into."})
    ensemble: str = field(default="mean", metadata={"help": "Several feedback models: `mean` of probabilities or soft majority `vote`."})
    chunk_size: int = field(default=32, metadata={"help": "Prompts per chunk; rows are written as each chunk finishes."})
    long_prompts: str = field(default="skip", metadata={"help": "A prompt longer than the model's context: `skip` it or `truncate` it from the left."})
    infer_context: bool = field(default=False, metadata={"help": "The (first) feedback model infers missing or unknown context labels from the schema."})
    feedback_dialect: str | None = field(default=None, metadata={"help": "Dialect of the comparison prompts; None: `dialect`."})

    @property
    def comparison_dialect(self) -> str:
        return self.feedback_dialect or self.dialect

    def __post_init__(self) -> None:
        check_long_prompts(self.long_prompts)
        object.__setattr__(self, "clamp", tuple(float(x) for x in self.clamp))
        if self.dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}")
        if self.feedback_dialect not in (None, *FEEDBACK_DIALECTS):
            raise ValueError(f"the feedback dialect is one of {', '.join(FEEDBACK_DIALECTS)}")
        if self.mode not in MODES:
            raise ValueError(f"mode is `sample` or `priority`, not {self.mode!r}")
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble is `mean` or `vote`, not {self.ensemble!r}")
        if self.chunk_size < 1:
            raise ValueError("chunk size must be at least 1")
        if not 0.0 <= self.margin < 0.5:
            raise ValueError(f"the decisive margin must be in [0, 0.5), got {self.margin}")
        low, high = self.clamp
        if not 0.0 <= low <= 0.5 <= high <= 1.0:
            raise ValueError(f"the clamp band must contain 0.5 and lie in [0, 1], got {low} {high}")
        if self.cot and self.mode == "priority" and self.margin >= min(0.5 - low, high - 0.5):
            raise ValueError(
                f"priority margin {self.margin} is not below the CoT clamp band ({low}, {high}): no model verdict could be decisive; "
                "lower --margin or widen --clamp"
            )
        if self.sampling(0).greedy:
            raise ValueError("pair sampling needs a temperature above 0: greedy decoding gives two identical responses")

    def resume_settings(self) -> dict[str, Any]:
        """The settings a resumed run must share with the run it continues."""
        values = {k: v for k, v in asdict(self).items() if k != "chunk_size"}
        values["clamp"] = list(self.clamp)
        return values

    def sampling(self, seed: int | None) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            do_sample=True,
            stop=TEXT_STOPS if self.dialect == "text" else (),
            seed=seed,
        )

    def cot_params(self) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens, temperature=0.0, do_sample=False, stop=TEXT_STOPS if self.comparison_dialect in ("text", "paper") else ()
        )


@dataclass
class RLStats:
    pairs_written: int = 0
    labels_written: int = 0
    chunks_sampled: int = 0
    chunks_labelled: int = 0
    identical_pairs: int = 0
    oversize: list = field(default_factory=list)  # run.fit.Oversize, one per prompt over the context
    lengths_checked: bool = False
    context_lines: list = field(default_factory=list)  # what --infer-context inferred, for the terminal


class IdenticalPairsError(RunError):
    """Every pair of a chunk holds one response twice: the labels would all be ties and DPO would learn nothing."""


def check_pairs_differ(pairs: Sequence[Mapping[str, Any]], stats: RLStats) -> None:
    """Count pairs whose two responses are the same text; refuse a chunk of two or more where all are.

    One identical pair happens (two empty replies, a short answer); a whole
    chunk of them means the backend does not sample independently (a server
    that ignores the seed, or one that serves temperature 0).
    """
    same = sum(p["response_a"] == p["response_b"] for p in pairs)
    stats.identical_pairs += same
    if len(pairs) >= 2 and same == len(pairs):
        raise IdenticalPairsError(
            f"all {same} pairs of a chunk hold the same response twice (first: prompt {pairs[0]['id']!r}): the policy "
            "does not sample the two sides independently, so every label would be a 0.5 tie. Check that the server "
            "honours temperature and seed (caic sends each side with its own seed), or raise --temperature"
        )


def sample_chunk(
    records: Sequence[PromptRecord],
    *,
    policy: GenerationBackend,
    bundle: Bundle,
    config: RLGenerationConfig,
    chunk_index: int,
    policy_id: str,
    work: ChunkWork | None = None,
) -> list[dict[str, Any]]:
    """Two responses per prompt of one chunk, as pair rows: one generate call per side, each with its own seed.

    A server samples each request on its own, and vLLM returns the same text
    for the same request and seed; so the two responses of a pair are never
    asked for with one seed (a local backend batching them would differ by
    batch position only).
    """
    from cai_lang.engine.base import per_request
    from cai_lang.train.rl.pairs import sampling_record
    from cai_lang.train.thinking import strip_thinking

    # One seed per request too (from the call's seed and the prompt's id), recorded on the row.
    ids = [r.id for r in records]
    params = per_request(config.sampling(call_seed(config.seed, chunk_index, 0, "pairs")), len(ids), ids)
    params_b = per_request(config.sampling(call_seed(config.seed, chunk_index, 1, "pairs")), len(ids), ids)
    prompts = [response_prompt(r.turns, config.dialect) for r in records]
    work = work or ChunkWork(None, 0)
    with work.call(len(prompts)):
        responses_a = policy.generate(prompts, params)
    with work.call(len(prompts)):
        responses_b = policy.generate(prompts, params_b)
    # Pairs are judged and trained on, so a reasoning model's thinking goes, as on every other path.
    responses = [strip_thinking(text) for pair in zip(responses_a, responses_b) for text in pair]
    rows = []
    for i, record in enumerate(records):
        rows.append(
            {
                "id": record.id,
                "prompt": record.prompt,
                "kind": record.kind,
                "split": record.split,
                "context": dict(record.context),
                **({"inferred_context": dict(record.inferred)} if record.inferred else {}),
                "conversation": record.turns,
                "response_a": responses[2 * i].strip(),
                "response_b": responses[2 * i + 1].strip(),
                "policy": policy_id,
                "sampling": sampling_record(params),
                "seed_b": params_b.seed,
                **({"request_seeds": {"a": params.request_seeds[i], "b": params_b.request_seeds[i]}} if params.request_seeds else {}),
                "dialect": config.dialect,
                "seed": config.seed,
                "content_hash": bundle.content_hash,
                "constitution": bundle.constitution.name,
                "deployment": bundle.deployment.name,
            }
        )
    return rows


def label_rows(pairs: Sequence[Mapping[str, Any]], *, labeller, aggregator, config: RLGenerationConfig, feedback_ids: Sequence[str],
               work: ChunkWork | None = None) -> list[dict[str, Any]]:
    """One label row per pair: the aggregated soft label with every per-principle verdict, the mode,
    the bundle hash, and who labelled it how."""
    from cai_lang.train.rl.aggregate import label_pairs

    rows = []
    for label in label_pairs(pairs, labeller, aggregator, work=work):
        data = label.to_dict()
        rows.append(
            {
                "id": data["pair_id"],
                **data,
                "feedback_models": list(feedback_ids),
                "ensemble": config.ensemble,
                "cot": config.cot,
                "clamp": list(config.clamp) if config.cot else None,
                "margin": config.margin if config.mode == "priority" else None,
                "seed": config.seed,
            }
        )
    return rows


def generate_rl(
    records: Sequence[PromptRecord],
    *,
    policy: GenerationBackend | None,
    labeller,
    aggregator,
    bundle: Bundle,
    config: RLGenerationConfig,
    pair_writer: RowWriter,
    label_writer: RowWriter,
    pairs_on_disk: Mapping[str, Mapping[str, Any]],
    policy_id: str,
    feedback_ids: Sequence[str],
    on_rows: Callable[[int], None] | None = None,
    on_work: WorkCallback | None = None,
) -> RLStats:
    """Sample and label every prompt's pair, skipping rows the writers already hold.

    `pairs_on_disk` maps prompt ids to the pair rows already in the pairs
    file (a resumed run labels those, not new samples). `policy` may be None
    when every pair is already on disk. `on_rows(n)` counts prompts as each
    chunk's labels are written; `on_work(done, total, pending)` reports the
    engine inputs inside the chunk (`run.work.ChunkWork`), sampling then
    labelling, so a display moves before the chunk ends.
    """
    stats = RLStats()
    if policy is not None:
        # The comparison prompt holds the conversation and both responses (and, with CoT, the reasoning).
        generated = (4 if config.cot else 2) * config.max_new_tokens
        records, stats.oversize, stats.lengths_checked = fit_prompts(
            records, policy, bundle, config.dialect, config.long_prompts, phase="compare", generated=generated
        )
    cut = {e.id: e.to_dict() for e in stats.oversize if e.action == "truncated"}
    if config.infer_context:
        from cai_lang.train.run.context_labels import infer_context, inference_lines

        records = infer_context(records, labeller.models[0].backend, bundle, labeller.models[0].dialect)
        stats.context_lines = inference_lines(records)
    pairs = dict(pairs_on_disk)
    for chunk_index, start in enumerate(range(0, len(records), config.chunk_size)):
        chunk = list(records[start : start + config.chunk_size])
        unlabelled = [r for r in chunk if r.id not in label_writer]
        if not unlabelled:
            continue
        backends = [policy, *(m.backend for m in getattr(labeller, "models", ()))]
        with ChunkWork(on_work, len(unlabelled), backends) as work:
            _chunk(chunk, chunk_index, work, policy=policy, labeller=labeller, aggregator=aggregator, bundle=bundle, config=config,
                   pair_writer=pair_writer, label_writer=label_writer, pairs=pairs, cut=cut, stats=stats, policy_id=policy_id,
                   feedback_ids=feedback_ids)
        if on_rows:
            on_rows(len(unlabelled))
    return stats


def _chunk(chunk, chunk_index, work, *, policy, labeller, aggregator, bundle, config, pair_writer, label_writer, pairs, cut, stats,
           policy_id, feedback_ids) -> None:
    """Sample (when pairs are missing) and label one chunk, writing only the rows missing."""
    sampling = any(r.id not in pair_writer for r in chunk)
    if hasattr(labeller, "engine_inputs") and hasattr(aggregator, "model_items_at_most"):
        # The whole chunk's work up front (labelling at most), so sampling is not shown as the whole chunk.
        comparisons = sum(aggregator.model_items_at_most(r.context) for r in chunk)
        work.need(2 * len(chunk) * sampling + labeller.engine_inputs(comparisons))
    if sampling:
        if policy is None:
            raise RunError("pairs are missing and no policy was opened to sample them")
        # The whole chunk is sampled again so every row sees the batch it saw the first time.
        sampled = sample_chunk(chunk, policy=policy, bundle=bundle, config=config, chunk_index=chunk_index, policy_id=policy_id,
                               work=work)
        # Checked before anything is written, so a refused chunk leaves no rows for a resume to label.
        check_pairs_differ(sampled, stats)
        for row in sampled:
            if row["id"] in cut:
                row["truncated"] = cut[row["id"]]
            if pair_writer.append(row):
                pairs[row["id"]] = row
                stats.pairs_written += 1
        stats.chunks_sampled += 1
    # Labelled whole for the same reason; only the missing labels are written.
    for row in label_rows([pairs[r.id] for r in chunk], labeller=labeller, aggregator=aggregator, config=config, feedback_ids=feedback_ids,
                          work=work):
        stats.labels_written += label_writer.append(row)
    stats.chunks_labelled += 1


def label_summary(labels: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the labels say in aggregate: how many, how far from a coin flip, what decided them."""
    if not labels:
        return {"labels": 0}
    p = [float(row["p_a"]) for row in labels]
    decided = [row.get("decided_by") for row in labels]
    return {
        "labels": len(p),
        "mean_p_a": sum(p) / len(p),
        "min_p_a": min(p),
        "max_p_a": max(p),
        "mean_distance_from_half": sum(abs(x - 0.5) for x in p) / len(p),
        "exact_ties": sum(x == 0.5 for x in p),
        "undecided": sum(d is None for d in decided),
    }
