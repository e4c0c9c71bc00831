"""How the local backend computes continuation log-probabilities: forward passes that share prefixes.

`PrefixScoring` is the scoring half of `LocalBackend` (a mixin: it uses the
backend's model, padding and batch size). Contexts grouped by shared prefix
(`prefix.cluster_contexts`) take three passes per batch: the groups' shared
prefixes, each context's tokens after its prefix with the prefix's cache
rows, and the options' tokens after their context. `_score_batch` reads
whole sequences, for models whose cache cannot be split into rows and for
`reuse_prefixes=False`. See docs/engine.md, "Prefix (KV cache) reuse".
"""

from __future__ import annotations

import torch

from cai_lang.engine.prefix import reusable, select_rows


class PrefixScoring:
    """Scoring passes for a backend with `model`, `_left_pad`, `batch_size`, `device`, `_pad_id`,
    `_keeps_logits` and `_cache_argument`."""

    def _score_clusters(self, clusters, groups, splits) -> list[tuple[int, float]]:
        """Score the options of clustered contexts: one pass over the clusters' shared
        prefixes (keeping the KV cache), one over each context's tokens after its
        prefix with the prefix's cache rows, and one over the options' tokens."""
        prefix_ids, prefix_mask = self._left_pad([list(members[0][:shared]) for shared, members in clusters])
        out = self.model(
            input_ids=prefix_ids,
            attention_mask=prefix_mask,
            # Left padding does not shift positions by itself: count them from
            # each row's first real token, as generate() does.
            position_ids=(prefix_mask.cumsum(-1) - 1).clamp(min=0),
            use_cache=True,
            **({"logits_to_keep": 1} if self._keeps_logits else {}),
        )
        prefix_cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        members = [(c, context[shared:], context) for c, (shared, contexts) in enumerate(clusters) for context in contexts]
        if not reusable(prefix_cache):
            # No cache, or one that cannot be split into rows: score each full sequence.
            rows = [i for *_, context in members for i in groups[context]]
            return list(zip(rows, self._score_batch([splits[i] for i in rows])))
        prefix_first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        # A context that is its whole group's prefix already has its logits;
        # the others go through in batches of their own.
        ready = [m for m in members if not m[1]]
        chunks = [ready[s : s + self.batch_size] for s in range(0, len(ready), self.batch_size)]
        rest = [m for m in members if m[1]]
        chunks += [rest[s : s + self.batch_size] for s in range(0, len(rest), self.batch_size)]
        results = []
        for chunk in chunks:
            index = torch.tensor([c for c, _, _ in chunk], dtype=torch.long, device=self.device)
            cache = select_rows(prefix_cache, index)
            mask = prefix_mask.index_select(0, index)
            if chunk[0][1]:
                # The contexts' own tokens are left-padded too, so each row's last
                # token sits in the last column; the padding between prefix and
                # tail is masked and skipped by the positions.
                tail_ids, tail_mask = self._left_pad([list(tail) for _, tail, _ in chunk])
                positions = mask.sum(-1, keepdim=True) + (tail_mask.cumsum(-1) - 1).clamp(min=0)
                mask = torch.cat([mask, tail_mask], dim=1)
                out = self.model(
                    input_ids=tail_ids,
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    **{self._cache_argument: cache},
                    **({"logits_to_keep": 1} if self._keeps_logits else {}),
                )
                first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
            else:
                first = prefix_first.index_select(0, index)
            rows = [(m, i) for m, (*_, context) in enumerate(chunk) for i in groups[context]]
            results += zip((i for _, i in rows), self._score_options(cache, mask, first, rows, splits))
        return results

    def _score_options(self, cache, mask, first, rows: list[tuple[int, int]], splits) -> list[float]:
        """Continuations after contexts already in `cache` (row c, `mask` row c): `first`
        holds each context's next-token log-probs; the continuations' other tokens take
        one pass with the context's cache row repeated per continuation."""
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
        before = mask.index_select(0, index)
        positions = before.sum(-1, keepdim=True) + torch.arange(width, device=self.device)
        # transformers 5 renamed `past_key_values` to `cache`; older models take the old name.
        cache_argument = {self._cache_argument: cache}
        logits = self.model(
            input_ids=feed, attention_mask=torch.cat([before, feed_mask], dim=1), position_ids=positions, **cache_argument
        ).logits
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
