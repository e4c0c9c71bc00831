"""Generated constitutions for the benchmarks: realistic shape, any size.

`constitution(n)` writes n principles and rules over a small context, with
priority chains, declared conflicts, rule pairs that overlap and are
resolved by priority, and a few deployments, so every checker pass has work
proportional to n. Each principle's wording is distinct (varied vocabulary),
as in a real constitution, so near-duplicate detection sees no
pathological all-alike input.
"""

from __future__ import annotations

import random

_TOPICS = "general medical legal financial creative support".split()
_SUBJECTS = (
    "dosage interaction symptom diagnosis lease contract refund invoice tax pension loan "
    "poem story plot character password account address record consent privacy source "
    "citation evidence statistic budget schedule deadline warranty shipping allergy vaccine"
).split()
_QUALITIES = (
    "precise cautious complete concise courteous transparent sourced hedged balanced "
    "specific actionable gentle neutral candid thorough plain structured"
).split()


def _words(rng: random.Random, k: int) -> str:
    return " ".join(rng.sample(_SUBJECTS, k))


def _term(rng: random.Random) -> str:
    """A made-up domain term, so principles differ in vocabulary as real ones do."""
    syllables = "ka lo mi nu pe ra si to vu xe zo ba de fi go hu ja".split()
    return "".join(rng.choice(syllables) for _ in range(rng.randint(3, 4)))


def constitution(n: int, seed: int = 0) -> str:
    """Source text with about `n` principles plus `n // 4` rules."""
    rng = random.Random(seed)
    out = [
        f'constitution generated_{n} {{ version "1.0" }}',
        "context {",
        "    topic: " + " | ".join(_TOPICS),
        "    risk: low | medium | high",
        "    minor: bool",
        "    authorized: bool",
        "}",
    ]
    n_rules = max(2, n // 4)
    for i in range((n_rules + 1) // 2):
        out.append(f'action act{i} "perform operation {i} on the {_words(rng, 2)}"')
    for i in range(n):
        quality = rng.choice(_QUALITIES)
        subject = f"{_words(rng, 2)} {_term(rng)} {_term(rng)} {_term(rng)}"
        topic = rng.choice(_TOPICS)
        applies = rng.choice(
            [
                "",
                f"applies when topic == {topic}",
                f"applies when risk >= {rng.choice(['medium', 'high'])}",
                f"applies when topic in {{{topic}, {rng.choice(_TOPICS)}}} and not minor",
            ]
        )
        out.append(
            f"principle p{i} {{\n"
            f'    critique "Point out where the reply about {subject} is not {quality} (case {i}, {_words(rng, 2)})."\n'
            f'    revision "Rewrite the reply so its treatment of {subject} becomes {quality} (case {i})."\n'
            f'    compare "Which reply handles {subject} in the more {quality} way (case {i}, {_words(rng, 2)})?"\n'
            f"    weight {rng.choice(['1', '1.5', '2', '0.5'])}\n"
            f"    {applies}\n"
            "}"
        )
    for i in range(n_rules):
        action = f"act{i // 2}"
        if i % 2 == 0:
            out.append(f"rule r{i} {{ never {action} unless authorized }}")
        else:
            out.append(f"rule r{i} {{ always {action} when risk == high }}")
    # Every never/always pair overlaps where risk is high and the user is not
    # authorised; a priority resolves each one (I401, not E202).
    for i in range(0, n_rules - 1, 2):
        out.append(f"priority r{i + 1} > r{i}")
    # Priority chains of length 5 over the principles.
    for start in range(0, n - 5, 10):
        out.append("priority " + " > ".join(f"p{start + k}" for k in range(5)))
    # Conflicts between neighbours, resolved by risk.
    for i in range(5, n - 1, 10):
        out.append(
            f"conflict p{i} vs p{i + 1} {{\n"
            f"    prefer p{i} when risk >= medium\n"
            f"    prefer p{i + 1} otherwise\n"
            "}"
        )
    out.append("deployment clinic {\n    assume topic == medical\n    weight p0 2\n}")
    out.append("deployment research extends clinic {\n    assume authorized\n    disable p1\n}")
    out.append("deployment kids {\n    assume minor\n    disable p2\n}")
    return "\n".join(out) + "\n"
