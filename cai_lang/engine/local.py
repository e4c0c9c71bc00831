"""The in-process transformers backend: a causal LM and its tokenizer.

`LocalBackend` loads any `AutoModelForCausalLM` by Hub id or local folder (or
wraps a model and tokenizer already in memory, as a trainer does) and
implements `GenerationBackend`: batched generation with left padding and the
KV cache, prompts sorted by length into batches and answers returned in the
caller's order, stop strings that end a row early and are cut from its text,
seeded sampling that leaves the caller's RNG alone, `generate_rows`, which
keeps each row's KV cache between calls and feeds only what a row's next
prompt adds (the cache plumbing lives in `cai_lang.engine.prefix`), and exact
continuation log-probabilities (the passes live in `cai_lang.engine.scoring`).
Prompt rendering and the prompt/continuation token boundary live in
`cai_lang.engine.tokens`.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Hashable, Sequence

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
)

from cai_lang.engine.base import (
    EngineError,
    GenerationBackend,
    Prompt,
    SamplingParams,
    check_pairs,
    truncate_at_stop,
)
from cai_lang.engine.prefix import KeptRow, PrefixStore, assemble, cluster_contexts, keep_rows, plan, reusable
from cai_lang.engine.scoring import PrefixScoring
from cai_lang.engine.tokens import PromptEncoder

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # CPUs without bf16 instructions run bf16 many times slower than fp32.
        return torch.float32
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use auto or one of {sorted(_DTYPES)}") from None


class LocalBackend(PrefixScoring, GenerationBackend):
    """A transformers causal LM run in this process."""

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str = "auto",
        dtype: str | torch.dtype = "auto",
        batch_size: int = 8,
        revision: str | None = None,
        trust_remote_code: bool = False,
        model: Any = None,
        tokenizer: Any = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        reuse_prefixes: bool = True,
        max_cached_tokens: int = 32768,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_cached_tokens < 0:
            raise ValueError("max_cached_tokens must be >= 0")
        # Kept rows of `generate_rows`, within a budget of cached tokens
        # (docs/engine.md gives the memory one token costs).
        self._store = PrefixStore(max_cached_tokens) if reuse_prefixes and max_cached_tokens else None
        self.reuse_prefixes = reuse_prefixes
        self.model_id = str(name_or_path)
        self.batch_size = batch_size
        if model is None:
            self.device = resolve_device(device)
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(
                name_or_path, revision=revision, trust_remote_code=trust_remote_code
            )
            model = AutoModelForCausalLM.from_pretrained(
                name_or_path,
                revision=revision,
                dtype=resolve_dtype(dtype, self.device),
                trust_remote_code=trust_remote_code,
            ).to(self.device).eval()
        else:
            # A model handed over by a trainer stays where it is.
            if tokenizer is None:
                raise ValueError("pass the tokenizer together with the model")
            self.device = next(model.parameters()).device
        self.model = model
        self.tokenizer = tokenizer
        self.encoder = PromptEncoder(tokenizer, chat_template_kwargs)
        self._eos_ids = _eos_ids(model, tokenizer)
        self._pad_id = _pad_id(model, tokenizer, self._eos_ids)
        parameters = inspect.signature(model.forward).parameters
        self._keeps_logits = "logits_to_keep" in parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, batch_size: int = 8, model_id: str | None = None, **options: Any):
        """Wrap a model already in memory (a policy being trained, say)."""
        name = model_id or getattr(model.config, "_name_or_path", None) or type(model).__name__
        return cls(name, model=model, tokenizer=tokenizer, batch_size=batch_size, **options)

    # -- generation ---------------------------------------------------------

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams | None = None) -> list[str]:
        params = params or SamplingParams()
        encoded = [self.encoder.prompt_ids(p) for p in prompts]
        if any(not ids for ids in encoded):
            raise EngineError("cannot generate from an empty prompt: this tokenizer adds no BOS to start from")
        # Longest first: rows of a batch waste little padding, and a batch
        # that runs out of memory does so on the first try, not the last.
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        results: list[str] = [""] * len(encoded)
        with self._seeded(params.seed), _eval_mode(self.model), torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                texts = self._generate_batch([encoded[i] for i in rows], params)
                for i, text in zip(rows, texts):
                    results[i] = text
                self.batch_done(len(rows))
        return results

    def generate_rows(
        self, prompts: Sequence[Prompt], params: SamplingParams | None = None, *, rows: Sequence[Hashable]
    ) -> list[str]:
        if self._store is None:
            return self.generate(prompts, params)
        params = params or SamplingParams()
        if len(rows) != len(prompts) or len(set(rows)) != len(rows):
            raise ValueError("generate_rows needs one distinct row key per prompt")
        encoded = [self.encoder.prompt_ids(p) for p in prompts]
        if any(not ids for ids in encoded):
            raise EngineError("cannot generate from an empty prompt: this tokenizer adds no BOS to start from")
        # Each row's kept cache leaves the store now: the batch that extends
        # it keeps the successor, and nothing is held twice meanwhile.
        kept = [self._store.take(key) for key in rows]
        usable = plan(kept, encoded)
        # Most new tokens first: a batch feeds as many columns as its widest
        # row needs, so rows that need alike share a batch.
        order = sorted(range(len(encoded)), key=lambda i: (-(len(encoded[i]) - usable[i]), -len(encoded[i])))
        results: list[str] = [""] * len(encoded)
        with self._seeded(params.seed), _eval_mode(self.model), torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch_rows = order[start : start + self.batch_size]
                texts, successors = self._generate_batch(
                    [encoded[i] for i in batch_rows], params, reuse=[kept[i] for i in batch_rows]
                )
                for i, text, successor in zip(batch_rows, texts, successors):
                    results[i] = text
                    kept[i] = None
                    if successor is not None and self._store is not None:
                        self._store.put(rows[i], successor)
                self.batch_done(len(batch_rows))
        return results

    def release_rows(self, rows: Sequence[Hashable]) -> None:
        if self._store is not None:
            self._store.drop(rows)

    def _generate_batch(
        self, batch: list[list[int]], params: SamplingParams, reuse: list[KeptRow | None] | None = None
    ):
        """Generate one left-padded batch; with `reuse` (a kept row or None per row) the rows'
        kept caches are fed back and the batch's own cache is cut into rows and returned too."""
        input_ids, attention_mask = self._left_pad(batch)
        prompt_len = input_ids.shape[1]
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_new_tokens,
            eos_token_id=self._eos_ids,
            pad_token_id=self._pad_id,
            use_cache=True,
        )
        if params.greedy:
            # None clears a checkpoint's own sampling defaults, which greedy
            # decoding ignores but would warn about as "set but unused".
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k)
        stop_criteria = StopStringCriteria(self.tokenizer, params.stop, prompt_len) if params.stop else None
        if stop_criteria is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([stop_criteria])
        if reuse is not None:
            kwargs["return_dict_in_generate"] = True
            cache = assemble(reuse, plan(reuse, batch), batch, self.device)
            if cache is not None:
                kwargs[self._cache_argument] = cache
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        sequences = output.sequences if reuse is not None else output
        texts, generated = [], []
        for r, row in enumerate(sequences[:, prompt_len:].tolist()):
            if stop_criteria is not None and r in stop_criteria.finished_at:
                row = row[: stop_criteria.finished_at[r]]
            generated.append(_cut_at_eos(row, self._eos_ids, keep_eos=True))
            text = self.tokenizer.decode(_cut_at_eos(row, self._eos_ids), skip_special_tokens=True)
            texts.append(truncate_at_stop(text, params.stop)[0])
        if reuse is None:
            return texts
        cache = getattr(output, "cache", None) or getattr(output, "past_key_values", None)
        if not reusable(cache):
            # This model's cache cannot be cut into rows: serve it without reuse from now on.
            self._store = None
            return texts, [None] * len(batch)
        return texts, keep_rows(cache, batch, generated)

    def _left_pad(self, batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        # Left padding keeps every row's last prompt token in the last column,
        # which is where generate() appends the next token for all rows.
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, ids in enumerate(batch):
            if ids:
                input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                attention_mask[r, width - len(ids) :] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def _seeded(self, seed: int | None):
        if seed is None:
            return contextlib.nullcontext()
        return _SeedScope(seed, self.device)

    # -- scoring ------------------------------------------------------------

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[float]:
        check_pairs(prompts, continuations)
        splits = [self.encoder.split(p, c) for p, c in zip(prompts, continuations)]
        scores = [0.0] * len(splits)
        # Options scored after the same context (the comparison labeller's
        # (A) and (B)) share that context's forward pass.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, split in enumerate(splits):
            if split.n_continuation:
                groups.setdefault(tuple(split.ids[: len(split.ids) - split.n_continuation]), []).append(i)
        with _eval_mode(self.model), torch.inference_mode():
            if not self.reuse_prefixes:
                # Every pair read in full: what prefix reuse is measured against.
                scored = [i for members in groups.values() for i in members]
                for start in range(0, len(scored), self.batch_size):
                    rows = scored[start : start + self.batch_size]
                    for i, score in zip(rows, self._score_batch([splits[i] for i in rows])):
                        scores[i] = score
                    self.batch_done(len(rows))
                return scores
            # Contexts that share a prefix (one conversation asked about by
            # every principle, in both option orders) read it once.
            clusters = sorted(cluster_contexts(list(groups)), key=lambda c: -c[0])
            for start in range(0, len(clusters), self.batch_size):
                batch = clusters[start : start + self.batch_size]
                for i, score in self._score_clusters(batch, groups, splits):
                    scores[i] = score
                self.batch_done(sum(len(groups[context]) for _, members in batch for context in members))
        return scores

    def context_window(self) -> int | None:
        # The position table bounds the model; a tokenizer's model_max_length is often a placeholder (1e30).
        window = getattr(self.model.config, "max_position_embeddings", None)
        if window is None:
            limit = getattr(self.tokenizer, "model_max_length", None)
            window = limit if isinstance(limit, int) and limit < 10**7 else None
        return window

    def count_tokens(self, prompt: Prompt) -> int | None:
        return len(self.encoder.prompt_ids(prompt))

    def close(self) -> None:
        self.model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


class StopStringCriteria(StoppingCriteria):
    """Marks a row finished once its new text contains a stop string.

    generate() stops as soon as every row is finished (by EOS or by this),
    so one long-winded row no longer holds up a batch whose other rows have
    stopped only when it, too, is done. Only the tail of each row is decoded:
    a stop string of n characters spans at most 4n byte-level tokens.
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str], prompt_len: int):
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.prompt_len = prompt_len
        self.tail = 4 * max(len(s) for s in self.stop) + 8
        # Row -> how many new tokens it had when a stop string first showed:
        # what generate() appends after that is padding.
        self.finished_at: dict[int, int] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_len :][:, -self.tail :]
        texts = self.tokenizer.batch_decode(new.tolist(), skip_special_tokens=True)
        done = [any(s in text for s in self.stop) for text in texts]
        for r, finished in enumerate(done):
            if finished:
                self.finished_at.setdefault(r, input_ids.shape[1] - self.prompt_len)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _SeedScope:
    """Seeds torch for one call and restores the caller's RNG state after."""

    def __init__(self, seed: int, device: torch.device):
        cuda = [device.index or 0] if device.type == "cuda" else []
        self._fork = torch.random.fork_rng(devices=cuda)
        self._seed = seed

    def __enter__(self) -> None:
        self._fork.__enter__()
        torch.manual_seed(self._seed)

    def __exit__(self, *exc: object) -> None:
        self._fork.__exit__(*exc)


@contextlib.contextmanager
def _eval_mode(model: Any):
    # Dropout must be off to decode and score, but a policy lent by a trainer
    # has to go back in the mode it came in.
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    if ids is None:
        return []
    return [ids] if isinstance(ids, int) else list(ids)


def _pad_id(model: Any, tokenizer: Any, eos_ids: list[int]) -> int:
    for candidate in (
        tokenizer.pad_token_id,
        getattr(getattr(model, "generation_config", None), "pad_token_id", None),
    ):
        if candidate is not None:
            return candidate
    # Many base models ship without a pad token; padding is masked anyway.
    return eos_ids[0] if eos_ids else 0


def _cut_at_eos(row: list[int], eos_ids: list[int], keep_eos: bool = False) -> list[int]:
    for j, token in enumerate(row):
        if token in eos_ids:
            return row[: j + 1] if keep_eos else row[:j]
    return row
