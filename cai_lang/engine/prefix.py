"""Prefix (KV cache) reuse for the local backend: what is kept between calls, and how it is put back.

SL-CAI asks one model a chain of questions about one growing transcript
(response, then critique, then revision), and the labeller asks many
questions about one conversation. This module owns the token-level side of
not reading the same text twice: `PrefixStore` keeps, per caller-named row,
the tokens a finished `generate` call saw (prompt plus generated text) with
their keys and values, inside a budget of cached tokens, dropping the
oldest rows first; `assemble` lays kept rows into one left-padded
`DynamicCache` for the next batch, so that `generate` feeds each row only
the tokens after the part it can reuse; `keep_rows` cuts a finished batch's
cache back into rows; `cluster_contexts` groups scoring contexts that share
a long prefix, so one forward pass over the prefix serves all of them.
Reuse is exact by construction: a kept key/value was computed from the very
tokens (and positions) it stands for, and a row only reuses the longest
token prefix its new prompt shares with what was kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from cai_lang.engine.tokens import common_prefix

# A row's cache is a list of per-layer (keys, values), each [1, heads, tokens, head_dim].
LayerKV = tuple[torch.Tensor, torch.Tensor]


def reusable(cache: object) -> bool:
    """Whether rows of `cache` can be cut out and put back: a DynamicCache of plain full-attention layers.

    Sliding-window, quantised, offloaded and recurrent (linear-attention)
    layers keep something other than one key and value per token, so their
    rows cannot be cut at a token boundary; those models are served without
    reuse.
    """
    layers = getattr(cache, "layers", None)
    return (
        isinstance(cache, DynamicCache)
        and bool(layers)
        and all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers)
    )


@dataclass
class KeptRow:
    """The tokens one row has seen and the cache of every one of them."""

    tokens: list[int]
    layers: list[LayerKV]

    def __len__(self) -> int:
        return len(self.tokens)


class PrefixStore:
    """Kept rows by key, at most `max_tokens` cached tokens in all; the oldest row goes first.

    A row that alone exceeds the budget keeps only its first `max_tokens`
    tokens (a prefix is still a valid prefix). Eviction never changes what
    is generated, only how much is read again.
    """

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens
        self.rows: OrderedDict[Hashable, KeptRow] = OrderedDict()
        self.tokens = 0

    def take(self, key: Hashable) -> KeptRow | None:
        """Remove and return `key`'s row: the call about to extend it will keep its successor."""
        row = self.rows.pop(key, None)
        if row is not None:
            self.tokens -= len(row)
        return row

    def put(self, key: Hashable, row: KeptRow) -> None:
        self.take(key)
        if len(row) > self.max_tokens:
            n = self.max_tokens
            row = KeptRow(row.tokens[:n], [(k[:, :, :n].clone(), v[:, :, :n].clone()) for k, v in row.layers])
        if not len(row):
            return
        while self.rows and self.tokens + len(row) > self.max_tokens:
            self.take(next(iter(self.rows)))
        self.rows[key] = row
        self.tokens += len(row)

    def drop(self, keys: Sequence[Hashable]) -> None:
        for key in keys:
            self.take(key)

    def clear(self) -> None:
        self.rows.clear()
        self.tokens = 0


def plan(kept: Sequence[KeptRow | None], batch: Sequence[Sequence[int]]) -> list[int]:
    """Tokens each row can take from its kept row: the shared prefix, leaving at least one to feed."""
    usable = []
    for row, ids in zip(kept, batch):
        usable.append(0 if row is None else min(common_prefix(row.tokens, ids), len(ids) - 1))
    return usable


def assemble(kept: Sequence[KeptRow | None], usable: Sequence[int], batch: Sequence[Sequence[int]], device) -> DynamicCache | None:
    """One cache for a left-padded batch, covering the columns every row can take from its kept row.

    Rows are right-aligned to width W as `_left_pad` lays them out; the
    cache covers columns [0, C) with C = W - (most new tokens of any row),
    so `generate` feeds the same C.. columns for every row. A row with
    fewer new tokens than the widest feeds some of its reusable tokens
    again (their keys are recomputed, identical); columns left of a row's
    first token stay zero and are masked. None when no row reuses anything.
    """
    width = max(len(ids) for ids in batch)
    widest_new = max(len(ids) - u for ids, u in zip(batch, usable))
    columns = width - widest_new
    take = [max(0, len(ids) - widest_new) for ids in batch]
    source = next((row for row, k in zip(kept, take) if row is not None and k), None)
    if columns == 0 or source is None:
        return None
    data = []
    for layer, (k0, v0) in enumerate(source.layers):
        keys = k0.new_zeros((len(batch), k0.shape[1], columns, k0.shape[3]), device=device)
        values = v0.new_zeros((len(batch), v0.shape[1], columns, v0.shape[3]), device=device)
        for r, (row, k) in enumerate(zip(kept, take)):
            if k:
                keys[r, :, columns - k :] = row.layers[layer][0][0, :, :k]
                values[r, :, columns - k :] = row.layers[layer][1][0, :, :k]
        data.append((keys, values))
    return DynamicCache(ddp_cache_data=data)


def keep_rows(cache: DynamicCache, batch: Sequence[Sequence[int]], generated: Sequence[Sequence[int]]) -> list[KeptRow]:
    """Cut a finished left-padded batch's cache into one `KeptRow` per row.

    `generated[r]` is what row r generated up to where it finished (EOS or
    stop string included); tokens generate() ran after that are padding and
    are not kept, nor is the last token, which was never fed.
    """
    width = max(len(ids) for ids in batch)
    total = cache.layers[0].keys.shape[2]
    rows = []
    for r, (ids, new) in enumerate(zip(batch, generated)):
        start = width - len(ids)
        tokens = (list(ids) + list(new))[: total - start]
        end = start + len(tokens)
        layers = [(layer.keys[r : r + 1, :, start:end].clone(), layer.values[r : r + 1, :, start:end].clone()) for layer in cache.layers]
        rows.append(KeptRow(tokens, layers))
    return rows


def select_rows(cache: DynamicCache, index: torch.Tensor) -> DynamicCache:
    """A new cache holding `index`'s rows of `cache` (repeats allowed); `cache` is left as it was."""
    return DynamicCache(ddp_cache_data=[(layer.keys.index_select(0, index), layer.values.index_select(0, index)) for layer in cache.layers])


# A shared prefix shorter than this is not worth the extra forward pass it takes.
MIN_SHARED_TOKENS = 16


def cluster_contexts(contexts: Sequence[tuple[int, ...]]) -> list[tuple[int, list[tuple[int, ...]]]]:
    """Group contexts whose shared prefix is worth one forward pass; returns (prefix length, members).

    Contexts are taken in sorted order, so those with a common prefix are
    neighbours. A group of one is its whole context. A context joins the
    current group when that reads fewer tokens in all than starting a new
    group: with n members sharing p tokens, a newcomer sharing l <= p of
    them makes the members read n*(p - l) more and saves itself l, which
    for the first join (p the whole first context) and later ones alike
    reduces to n*(p - l) < p. In sorted order only a group's first member
    can equal the prefix; every other member has tokens after it.
    """
    groups: list[tuple[int, list[tuple[int, ...]]]] = []
    for context in sorted(set(contexts)):
        if groups:
            shared, members = groups[-1]
            shared_now = min(shared, common_prefix(members[0], context))
            if shared_now >= MIN_SHARED_TOKENS and len(members) * (shared - shared_now) < shared:
                members.append(context)
                groups[-1] = (shared_now, members)
                continue
        groups.append((len(context), [context]))
    return groups
