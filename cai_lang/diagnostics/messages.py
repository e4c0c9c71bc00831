"""Every message wording the tool reports, each bound to its code.

Kept in one place, beside the code registry, so that a wording change is one
edit and a code can never be paired with the wrong severity.
"""

from __future__ import annotations

from cai_lang.diagnostics.model import Message

# ---------------------------------------------------------------- syntax (E001, E002)
UNEXPECTED_TOKEN = Message("E001", "expected {expected}, found {found}")
UNCLOSED_BRACE = Message("E001", "this `{{` of {opener} is never closed: {found} comes first")
UNEXPECTED_CHARACTER = Message("E001", "unexpected character `{char}`; expected {expected}")
MISPLACED_HEADER = Message("E001", "`constitution` must be the first declaration of the file")
MISPLACED_IMPORT = Message("E001", "`import` must come before the other declarations")
TOO_DEEP = Message("E001", "condition nested more than {limit} levels deep")
UNTERMINATED_STRING = Message("E002", "unterminated {quotes}string")
BAD_ESCAPE = Message("E002", "{detail}")

# ---------------------------------------------------------------- names and imports (E101-E105)
UNKNOWN_REFERENCE = Message("E101", "unknown {kind} `{name}`")
UNKNOWN_MODULE = Message("E101", "unknown module alias `{alias}` in `{ref}`")
UNKNOWN_VALUE = Message("E101", "`{value}` is not a value of `{var}` (its values are {values})")
DUPLICATE = Message("E102", "{kind} `{name}` is defined more than once")
NAME_TAKEN = Message("E102", "{kind} `{name}` reuses the name of {other} `{name}`: principles and rules share one namespace")
IMPORT_NOT_FOUND = Message("E103", "cannot find module `{target}`")
IMPORT_NOT_STD = Message("E103", "cannot find module `{target}`: unquoted imports name standard library modules, `std.NAME`")
IMPORT_UNREADABLE = Message("E103", "cannot read module `{target}`: {reason}")
IMPORT_CYCLE = Message("E104", "import cycle: {cycle}")
IMPORT_OUTSIDE = Message("E105", "import `{target}` resolves to {resolved}, outside {allowed}")

# ---------------------------------------------------------------- types (E106)
BOOL_EXPECTED = Message("E106", "`{var}` is {type}; only a bool variable can stand alone as a condition")
ENUM_ORDER_ON_BOOL = Message("E106", "`{op}` compares enum values by their order; `{var}` is a bool")
BOOL_VALUE_ON_ENUM = Message("E106", "`{var}` is an enum; compare it with one of its values, not `{value}`")
ENUM_VALUE_ON_BOOL = Message("E106", "`{var}` is a bool; compare it with `true` or `false`, not `{value}`")
CONTEXT_TYPE_CLASH = Message("E106", "context variable `{name}` is declared as {this} here but as {other} {where}")

# ---------------------------------------------------------------- fields (E107, E108)
REPEATED_FIELD = Message("E107", "`{field}` is given more than once in {owner}")
BAD_WEIGHT = Message("E107", "weight must be greater than 0, not {value}")
NON_FINITE_WEIGHT = Message("E107", "weight `{value}` is too large to be a number (weights must be finite)")
BAD_REGEX = Message("E107", "detect regex does not compile: {error}")
BAD_SIDE = Message("E107", "`{side}` is not a side of `conflict {left} vs {right}`")
SAME_SIDES = Message("E107", "a conflict needs two different sides, not `{side}` twice")
MANY_OTHERWISE = Message("E107", "a conflict has at most one `prefer ... otherwise` clause")
RULE_VERDICT = Message("E107", "rule `{name}` needs exactly one `never ACTION` or `always ACTION`")
EXAMPLE_MISSING = Message("E107", "an example needs a `{field}`")
INVALID_FIELD = Message("E107", "{problem}")
COMPARISON_NO_QUESTION = Message("E107", "this comparison has no question to show: give it a `compare`, or give its principle one")
SHARED_NEEDS = Message("E107", "a shared {what} (outside a principle) needs its own `{field}`: there is no principle wording to fall back on")
WEIGHT_NOT_PRINCIPLE = Message("E107", "`weight` sets a principle's weight; `{name}` is a {kind}")
DUPLICATE_ENUM_VALUE = Message("E107", "enum value `{value}` is listed more than once")
UNUSABLE_PRINCIPLE = Message(
    "E108", "principle `{name}` has neither `critique` with `revision` nor `compare`, so no phase can use it"
)

# ---------------------------------------------------------------- deployments and order (E201-E208)
EXTENDS_CYCLE = Message("E207", "deployment extends cycle: {cycle}")
NOTHING_ENABLED = Message("E208", "deployment `{name}` leaves no principle or rule enabled")
PRIORITY_CYCLE = Message("E201", "priority cycle: {cycle}")
RULES_CONTRADICT = Message("E202", "rules `{never}` (never {action}) and `{always}` (always {action}) both apply in some context")
CONFLICT_INCOMPLETE = Message("E203", "conflict `{left} vs {right}` decides nothing in some context where both sides apply")
CONFLICT_AMBIGUOUS = Message("E204", "clauses of conflict `{left} vs {right}` prefer different sides in the same context")
CONFLICT_AGAINST_PRIORITY = Message(
    "E205", "this clause prefers `{lower}`, but the priority order ranks `{higher}` above `{lower}`"
)
HARD_DISABLED = Message("E209", "deployment `{name}` {how} hard rule `{rule}`: no deployment may weaken a hard rule")
HARD_OUTRANKED = Message("E210", "`{item}` is not a hard rule but outranks hard rule `{rule}`{how}")
HARD_PREFERRED = Message("E210", "this clause prefers `{item}`, which is not a hard rule, over hard rule `{rule}`")
HARD_USER_CHANGES = Message("E211", "users can change what hard rule `{rule}` decides: {what}")
HARD_NEVER_APPLIES = Message("W311", "hard rule `{rule}` can never apply in deployment `{name}`: its assumptions rule it out")
ASSUME_UNSAT = Message("E206", "the assumptions of deployment `{name}` can never all hold")

# ---------------------------------------------------------------- lints (W301-W307) and notes (I401)
VAGUE = Message("W301", "principle `{name}`: its {field} wording gives no concrete criterion")
ONE_PHASE = Message("W302", "principle `{name}` is usable only in the {phase} phase")
WRONG_PHASE = Message("W302", "principle `{name}` cannot be used in the {phase} phase, the only one this constitution declares (`phase {phase}`)")
OVER_REFUSAL_DOMINATED = Message(
    "W303", "harm avoidance outranks every helpfulness principle in every context ({helpful})"
)
OVER_REFUSAL_NO_HELP = Message("W303", "no helpfulness principle is enabled beside the harm-avoidance principles ({harmful})")
UNDECLARED_CONFLICT = Message(
    "W304", "principles `{first}` (helpfulness) and `{second}` (harm avoidance) can apply together but nothing orders them"
)
NEAR_DUPLICATE = Message("W305", "principles `{first}` and `{second}` are near-duplicates ({similarity:.0%} similar)")
UNUSED_ACTION = Message("W306", "action `{name}` is declared but no rule uses it")
UNUSED_VARIABLE = Message("W306", "context variable `{name}` is declared but no condition reads it")
DEAD_CONDITION = Message("W307", "{what} can never hold")
BAD_SUPPRESSION = Message("W310", "suppression comment: {problem}")
UNUSED_SUPPRESSION = Message("W310", "`caic: allow {code}` silences nothing here")
HAZARDS_UNCOVERED = Message("W314", "the hazard taxonomy is imported, but no principle is tagged with {count} of its {total} categories: {categories}")
RISKY_DETECTOR = Message("W309", "the detect regex of rule `{name}` {problem}")
SOLVER_UNDECIDED = Message(
    "E212", "the solver could not decide {what} in deployment `{where}` within its limit; that check is incomplete ({detail})"
)
HIDDEN_TEXT = Message("W312", "{kind} characters `{chars}` in the text: what a reviewer sees is not what the model or the engine reads")
UNPORTABLE_DETECTOR = Message("W313", "the detect regex of rule `{name}` {problem}")
RULES_RESOLVED = Message(
    "I401", "rules `{never}` (never {action}) and `{always}` (always {action}) overlap; `{winner}` wins by priority"
)

# ---------------------------------------------------------------- tests (version 1.1)
TEST_NO_EXPECT = Message("E107", "test `{name}` needs at least one `expect` line")
TEST_NO_DETECTOR = Message("E107", "rule `{name}` has no `detect regex` for `expect detect` to try")
TEST_SAME_SIDES = Message("E107", "`expect {name} over {name}` compares an item with itself")
TEST_EMPTY_REGION = Message("W308", "test `{name}` proves nothing: its `given` can never hold in deployment `{where}`")


def _name_messages() -> None:
    for name, value in globals().items():
        if isinstance(value, Message):
            value.name = name


_name_messages()
