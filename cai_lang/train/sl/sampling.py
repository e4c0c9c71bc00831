"""Which principle critiques a response: the seeded, weighted draw over what applies.

For each prompt and round the SL-CAI loop asks `PrincipleSampler.draw` for
one item of the bundle: a principle or a rule that serves the SL phase (it has
critique and revision wording) and applies to the prompt, decided by the
bundle's own condition evaluator on the prompt's context labels under the
deployment's assumptions. The draw is weighted by each item's effective
weight (rules weigh 1.0) and seeded by (seed, prompt id, round) alone, so
it does not depend on batch composition, on the order prompts are processed
in, or on whether a run was resumed: the same prompt always gets the same
principles. Draws are with replacement across rounds, as in the paper.

Prompt sets and constitutions are written independently, so a prompt's
labels may name variables the constitution does not declare (ignored) or
values its enum does not have (`topic: creative` against a constitution
whose topics are `general | medical`): such a label is treated as unknown,
so conditions on it count as "might apply", and `run.context_labels.clean_labels` reports it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from cai_lang.codegen.bundle import Bundle, PrincipleEntry, RuleEntry
from cai_lang.errors import CaicError
from cai_lang.train.run.context_labels import clean_labels

Item = Union[PrincipleEntry, RuleEntry]


class NoApplicablePrinciple(CaicError, LookupError):
    """No principle or rule of the bundle serves the SL phase for a prompt."""


def sl_items(bundle: Bundle, labels: Mapping[str, Any]) -> list[Item]:
    """Principles and rules that serve the SL phase and apply to a prompt with these labels, by id."""
    known, _ = clean_labels(bundle, labels)
    items: list[Item] = list(bundle.principles_for(known, phase="sl"))
    items += [rule for rule in bundle.rules_for(known) if "sl" in rule.phases]
    return sorted((i for i in items if i.weight > 0), key=lambda i: i.id)


@dataclass(frozen=True)
class PrincipleSampler:
    """Seeded weighted draws of one SL item per (prompt, round)."""

    bundle: Bundle
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def candidates(self, labels: Mapping[str, Any]) -> list[Item]:
        # Deciding conditions enumerates unlabelled variables; prompts share few label sets.
        key = tuple(sorted((k, repr(v)) for k, v in labels.items()))
        if key not in self._cache:
            self._cache[key] = sl_items(self.bundle, labels)
        return self._cache[key]

    def draw(self, prompt_id: str, round_index: int, labels: Mapping[str, Any]) -> Item:
        """The item that critiques round `round_index` (0-based) of prompt `prompt_id`."""
        items = self.candidates(labels)
        if not items:
            raise NoApplicablePrinciple(
                f"no principle or rule of deployment `{self.bundle.deployment.name}` serves the SL phase "
                f"for prompt {prompt_id!r} (labels {dict(labels)})"
            )
        # A string seed is hashed with SHA-512 by `random`, so it is stable
        # across processes (unlike hash()) and independent of other prompts.
        rng = random.Random(f"principle:{self.seed}:{prompt_id}:{round_index}")
        return rng.choices(items, weights=[i.weight for i in items], k=1)[0]
