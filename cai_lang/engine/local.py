"""The in-process transformers backend: a causal LM and its tokenizer.

`LocalBackend` loads any `AutoModelForCausalLM` by Hub id or local folder (or
wraps a model and tokenizer already in memory, as a trainer does) and
implements `GenerationBackend`: batched generation with left padding and the
KV cache, prompts sorted by length into batches and answers returned in the
caller's order, stop strings that end a row early and are cut from its text,
seeded sampling that leaves the caller's RNG alone, and exact continuation
log-probabilities from one forward pass per batch. Prompt rendering and the
prompt/continuation token boundary live in `cai_lang.engine.tokens`.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Sequence

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


class LocalBackend(GenerationBackend):
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
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
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
        self.encoder = PromptEncoder(tokenizer)
        self._eos_ids = _eos_ids(model, tokenizer)
        self._pad_id = _pad_id(model, tokenizer, self._eos_ids)
        parameters = inspect.signature(model.forward).parameters
        self._keeps_logits = "logits_to_keep" in parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, batch_size: int = 8, model_id: str | None = None):
        """Wrap a model already in memory (a policy being trained, say)."""
        name = model_id or getattr(model.config, "_name_or_path", None) or type(model).__name__
        return cls(name, model=model, tokenizer=tokenizer, batch_size=batch_size)

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
        return results

    def _generate_batch(self, batch: list[list[int]], params: SamplingParams) -> list[str]:
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
        if params.stop:
            kwargs["stopping_criteria"] = StoppingCriteriaList(
                [StopStringCriteria(self.tokenizer, params.stop, prompt_len)]
            )
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        texts = []
        for row in output[:, prompt_len:].tolist():
            row = _cut_at_eos(row, self._eos_ids)
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            texts.append(truncate_at_stop(text, params.stop)[0])
        return texts

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
        # Rows that share their context (the same prompt scored with several
        # options, as the comparison labeller does) run the context once.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, split in enumerate(splits):
            if split.n_continuation:
                groups.setdefault(tuple(split.ids[: len(split.ids) - split.n_continuation]), []).append(i)
        contexts = sorted(groups, key=len, reverse=True)
        with _eval_mode(self.model), torch.inference_mode():
            for start in range(0, len(contexts), self.batch_size):
                batch = contexts[start : start + self.batch_size]
                rows = [(c, i) for c, context in enumerate(batch) for i in groups[context]]
                for i, score in zip((i for _, i in rows), self._score_shared(batch, rows, splits)):
                    scores[i] = score
        return scores

    def _score_shared(self, contexts: list[tuple[int, ...]], rows: list[tuple[int, int]], splits) -> list[float]:
        """Score continuations after shared contexts: one pass over the contexts
        (keeping the KV cache), then one pass over every continuation's tokens
        with its context's cache rows."""
        input_ids, attention_mask = self._left_pad([list(c) for c in contexts])
        # Left padding does not shift positions by itself: count them from
        # each row's first real token, as generate() does.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        extra = {"logits_to_keep": 1} if self._keeps_logits else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True, **extra)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        if cache is None:
            # A model without a KV cache: score each full sequence instead.
            return self._score_batch([splits[i] for _, i in rows])
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        tails = [splits[i].ids[len(splits[i].ids) - splits[i].n_continuation :] for _, i in rows]
        scores = [float(first[c, tail[0]]) for (c, _), tail in zip(rows, tails)]
        width = max(len(tail) for tail in tails) - 1
        if width == 0:
            return scores
        index = torch.tensor([c for c, _ in rows], dtype=torch.long, device=self.device)
        cache.reorder_cache(index)  # one cache row per continuation, repeated per context
        # The continuations go right-padded after their contexts: a causal model
        # never lets a real token see the padding that follows it.
        feed = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
        feed_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, tail in enumerate(tails):
            feed[r, : len(tail) - 1] = torch.tensor(tail[:-1], dtype=torch.long)
            feed_mask[r, : len(tail) - 1] = 1
        feed, feed_mask = feed.to(self.device), feed_mask.to(self.device)
        mask = torch.cat([attention_mask.index_select(0, index), feed_mask], dim=1)
        positions = attention_mask.sum(-1).index_select(0, index).unsqueeze(1) + torch.arange(width, device=self.device)
        # transformers 5 renamed `past_key_values` to `cache`; older models take the old name.
        cache_argument = {self._cache_argument: cache}
        logits = self.model(input_ids=feed, attention_mask=mask, position_ids=positions, **cache_argument).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        for r, tail in enumerate(tails):
            for t in range(1, len(tail)):
                scores[r] += float(logprobs[r, t - 1, tail[t]])
        return scores

    def _score_batch(self, splits) -> list[float]:
        input_ids, attention_mask = self._left_pad([s.ids for s in splits])
        # Left padding does not shift positions by itself: count them from
        # each row's first real token, as generate() does.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        width = input_ids.shape[1]
        # Continuations sit at the right edge, so only the last `keep` logits
        # are needed: a 150k-token vocabulary times a long prompt would
        # otherwise dominate memory.
        keep = min(width, max(s.n_continuation for s in splits) + 1)
        extra = {"logits_to_keep": keep} if self._keeps_logits else {}
        logits = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **extra
        ).logits
        logits = logits[:, -keep:].float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = input_ids[:, width - keep + 1 :]
        token_logprobs = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        scores = []
        for r, split in enumerate(splits):
            n = split.n_continuation
            scores.append(float(token_logprobs[r, token_logprobs.shape[1] - n :].sum()) if n else 0.0)
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

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_len :][:, -self.tail :]
        texts = self.tokenizer.batch_decode(new.tolist(), skip_special_tokens=True)
        done = [any(s in text for s in self.stop) for text in texts]
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


def _cut_at_eos(row: list[int], eos_ids: list[int]) -> list[int]:
    for j, token in enumerate(row):
        if token in eos_ids:
            return row[:j]
    return row
