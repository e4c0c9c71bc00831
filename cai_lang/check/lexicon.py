"""The word lists behind the heuristic lints, kept in one place.

W301 (vague wording), W303 (over-refusal risk) and W304 (likely undeclared
conflict) cannot be decided exactly: they depend on what principles *mean*.
These lists make the heuristic explicit and reviewable. Classification of a
principle's aim uses its tags first and its wording only when no tag says:

- tags `harmless`, `harm`, `safety`, `safe` mark harm avoidance;
- tags `helpful`, `helpfulness` mark helpfulness;
- both kinds of tag, or both kinds of wording, make a *balanced* principle,
  which counts as helpfulness for W303 and is never a W304 party.
"""

from __future__ import annotations

import re

HARM_TAGS = frozenset({"harmless", "harm", "safety", "safe"})
HELP_TAGS = frozenset({"helpful", "helpfulness"})

# Wording that signals harm avoidance. "safe" alone is left out on purpose:
# "as fully as is safe" is a helpfulness principle hedging, not a harm one.
HARM_PATTERNS = tuple(
    p
    for p in (
        r"\bharm(s|ful|fully|fulness)?\b",
        r"\bless harmful\b",
        r"\bdanger(ous)?\b",
        r"\bunsafe\b",
        r"\billegal\b",
        r"\bunethical\b",
        r"\btoxic\b",
        r"\bviolen(t|ce)\b",
        r"\bweapons?\b",
        r"\babus(e|ive)\b",
        r"\boffensive\b",
        r"\bhazard(ous)?\b",
        r"\bminimi[sz]e (the )?(risk|harm)\b",
    )
)

HELP_PATTERNS = tuple(
    p
    for p in (
        r"\bhelpful(ness)?\b",
        r"\bmaximally helpful\b",
        r"\buseful\b",
        r"\binformative\b",
        r"\bthorough(ly)?\b",
        r"\bresponsive\b",
        r"\b(non-?)?evasive\b",
        r"\b(needless|unnecessary|unneeded) refusals?\b",
        r"\brefus(es|ing)? (to help|needlessly)\b",
        r"\banswers? (the|their|every|what)\b",
        r"\bwhat the user (actually )?(asked|wants|needs|meant)\b",
        r"\buser'?s? (actual |stated )?(question|goals?|request)\b",
    )
)

_HARM = re.compile("|".join(f"(?:{p})" for p in HARM_PATTERNS))
_HELP = re.compile("|".join(f"(?:{p})" for p in HELP_PATTERNS))

# W301: wording with no criterion. A field is vague when it matches one of
# these whole-sentence shapes, or when, after removing the words below, fewer
# than two content words remain.
VAGUE_SHAPES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(is|was) (the|this|that) (last )?(response|answer|reply) (good|ok|okay|fine|acceptable|bad|right|correct)\??$",
        r"^(make|rewrite) (it|the (response|answer)) (better|good|nicer|right|great|perfect)\.?$",
        r"^which (response|answer|one|reply) is (better|best|good|nicer|preferable|preferred)\??$",
        r"^(improve|fix) (it|the (response|answer))\.?$",
    )
)

EMPTY_WORDS = frozenset(
    """
    a an the this that these those it its is are was were be been being do does did
    which what who whom whose how why when where there here of in on at to for from by
    with without as and or not no so than then too very more most less least
    response responses answer answers reply replies assistant ai model last
    make makes made rewrite rewritten revise revision critique compare point out identify
    good better best bad worse worst nice nicer fine ok okay great right proper properly
    appropriate appropriately acceptable quality improve improved improvement overall
    generally somehow thing things stuff way ways please just really one ones any some
    """.split()
)

_WORD = re.compile(r"[a-z][a-z'-]*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_vague(text: str) -> bool:
    stripped = text.strip()
    if any(shape.match(stripped) for shape in VAGUE_SHAPES):
        return True
    content = [w for w in words(stripped) if w not in EMPTY_WORDS]
    return len(content) < 2


def aim(tags: set[str], wording: str) -> str:
    """`harm`, `help`, `balanced` or `other`, from tags first, else from wording."""
    harm_tag, help_tag = bool(tags & HARM_TAGS), bool(tags & HELP_TAGS)
    if harm_tag or help_tag:
        harm, help_ = harm_tag, help_tag
    else:
        text = wording.lower().replace("_", " ")
        harm = _HARM.search(text) is not None
        help_ = _HELP.search(text) is not None
    if harm and help_:
        return "balanced"
    if harm:
        return "harm"
    if help_:
        return "help"
    return "other"
