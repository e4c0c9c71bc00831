"""Plain English for conditions, rules and conflict resolutions.

Rules have no critique or revision text of their own: the compiler builds
it here from the action's text (`reveal a patient's protected health
information`) and the rule's condition, so that a rule can be used in the
SL phase (critique, then revise) and the RL phase (compare two responses)
like any principle. Conditions are spelled out the same way for the bundle,
for `constitution.md` and inside those requests: `risk >= medium` reads
"risk is medium or higher", `not authorized` reads "not authorized".
Identifiers have their underscores turned into spaces; a context variable
with a description (language 1.2) reads as its description instead: a bool's
is a statement (`the user's staff credentials were verified`), an enum's a
noun phrase (`the harm the request could lead to` is medium or higher).
Nothing here imports jinja2; the functions take bundle condition trees, not
IR, and `described` maps each described variable to its description.
"""

from __future__ import annotations

from typing import Mapping

from cai_lang.codegen.bundle import Clause, EarlyStop, Wording
from cai_lang.ir.conditions import NEGATED_COMPARISON, Algebra, fold


def words(identifier: str) -> str:
    """An identifier as words: `protected_info` -> `protected info`."""
    return identifier.replace("_", " ")


def _listing(values, conjunction: str) -> str:
    items = [words(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


_COMPARE = {
    "==": "{var} is {value}",
    "!=": "{var} is not {value}",
    "<": "{var} is lower than {value}",
    "<=": "{var} is {value} or lower",
    ">": "{var} is higher than {value}",
    ">=": "{var} is {value} or higher",
}


class _Reading(Algebra[tuple[str, str]]):
    """Each condition read twice: as it is, and negated (so `not` is pushed into the simple cases)."""

    def __init__(self, described: Mapping[str, str] | None = None):
        self.described = described or {}

    def _var(self, name: str) -> str:
        return self.described.get(name) or words(name)

    def const(self, node, value):
        return ("true", "false") if value else ("false", "true")

    def var(self, node, name):
        if name in self.described:
            return self.described[name], f"it is not the case that {self.described[name]}"
        return words(name), f"not {words(name)}"

    def compare(self, node, name, op, value):
        return tuple(_COMPARE[o].format(var=self._var(name), value=words(value)) for o in (op, NEGATED_COMPARISON[op]))

    def member(self, node, name, values):
        var = self._var(name)
        if len(values) == 1:
            return f"{var} is {words(values[0])}", f"{var} is not {words(values[0])}"
        return f"{var} is {_listing(values, 'or')}", f"{var} is neither {_listing(values, 'nor')}"

    def negate(self, node, operand):
        return operand[1], operand[0]

    def conjoin(self, node, operands):
        return self._joined(node, operands, " and ")

    def disjoin(self, node, operands):
        return self._joined(node, operands, " or ")

    @staticmethod
    def _joined(node, operands, joiner):
        # `and` inside `or` (and the reverse) is bracketed so the reading is unambiguous.
        parts = [f"({text})" if o.kind in ("and", "or") and o.kind != node.kind else text for o, (text, _) in zip(node.operands, operands)]
        text = joiner.join(parts)
        return text, f"not ({text})"


def _text(expr, described: Mapping[str, str] | None = None) -> str:
    return fold(expr, _Reading(described))[0]


def condition_text(expr, described: Mapping[str, str] | None = None) -> str:
    """A condition in plain English; the constant conditions read "always" and "never"."""
    if expr.kind == "const":
        return "always" if expr.value else "never"
    return _text(expr, described)


def applies_text(expr, described: Mapping[str, str] | None = None) -> str:
    """Where an item applies, as a phrase: "in every context" or "when topic is medical"."""
    if expr.kind == "const":
        return "in every context" if expr.value else "in no context"
    return f"when {_text(expr, described)}"


# ---------------------------------------------------------------- rules


def rule_clause(verdict: str, action_text: str, guard: str | None, guard_expr, described: Mapping[str, str] | None = None) -> str:
    """`never reveal X unless authorized`: the rule as the author wrote it, in words."""
    clause = f"{verdict} {action_text}"
    if guard is not None and guard_expr is not None and not (guard_expr.kind == "const" and guard_expr.value is (guard == "when")):
        clause += f" {guard} {_text(guard_expr, described)}"
    return clause


def rule_statement(verdict: str, action_text: str, guard: str | None, guard_expr, described: Mapping[str, str] | None = None) -> str:
    clause = rule_clause(verdict, action_text, guard, guard_expr, described)
    return f"{clause[0].upper()}{clause[1:]}."


def rule_wording(verdict: str, action_text: str, guard: str | None, guard_expr, described: Mapping[str, str] | None = None, *, hard: bool = False) -> Wording:
    """Critique, revision and comparison wording for a rule; a `hard rule` says so
    (one that nothing the user says and no deployment may change)."""
    rule = f"the assistant must {rule_clause(verdict, action_text, guard, guard_expr, described)}"
    kind = "a hard rule that no instruction can change" if hard else "a hard rule"
    if verdict == "never":
        critique = (
            f"This conversation is subject to {kind}: {rule}. "
            "Identify every place where the last response breaks it, quoting the words that do so. "
            "If it does not, say so plainly."
        )
        revision = (
            f"Rewrite the response so that it follows the rule: {rule}. "
            "Remove or replace whatever breaks the rule and keep everything else that is useful."
        )
    else:
        critique = (
            f"This conversation is subject to {kind}: {rule}. "
            "Say whether the last response does this, and if it falls short, point out exactly what is missing."
        )
        revision = (
            f"Rewrite the response so that it follows the rule: {rule}. "
            "Add what the rule requires and keep everything else that is useful."
        )
    compare = f"This conversation is subject to {kind}: {rule}. Which response follows this rule better?"
    return Wording(critique_request=critique, revision_request=revision, comparison_question=compare)


# ---------------------------------------------------------------- conflicts


def resolution_text(left: str, right: str, clauses: tuple[Clause, ...]) -> str:
    """How a conflict resolves: "When both `a` and `b` apply: prefer b when ...; otherwise prefer a."."""
    parts = [f"prefer `{c.prefer}` {c.when.text if c.when.text == 'always' else 'when ' + c.when.text}" for c in clauses if c.when is not None]
    otherwise = [c for c in clauses if c.when is None]
    if otherwise:
        parts.append(f"{'otherwise ' if parts else ''}prefer `{otherwise[0].prefer}`")
    if not parts:
        return f"When both `{left}` and `{right}` apply, this conflict prefers neither; the priority order decides."
    return f"When both `{left}` and `{right}` apply: {'; '.join(parts)}."


# ---------------------------------------------------------------- the SL early stop

NO_CHANGES = "No changes needed."


def early_stop(reply: str = NO_CHANGES) -> EarlyStop:
    """The critique that ends the SL loop for a prompt, and the sentence that asks for it."""
    return EarlyStop(
        reply=reply,
        instruction=f'If the response has nothing to fix under this request, reply with exactly "{reply}" and nothing else.',
    )
