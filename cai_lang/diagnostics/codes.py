"""The registry of diagnostic codes: one entry per code, with its explanation.

Every code the tool can report is declared here once, with its severity, a
one-line title, the long explanation `caic explain` prints, a minimal
program that triggers it and the same program fixed. Tests check each
`bad` example really produces its code and each `fixed` one does not, so the
explanations cannot drift from what the checker does. Message wording for
individual findings lives beside this, in `messages.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    title: str
    explanation: str
    bad: str
    fixed: str
    # Some examples need other files (imports); tests skip running those.
    self_contained: bool = True

    @property
    def phase(self) -> str:
        """The checker phase that reports this code (see `PHASES`)."""
        return PHASE_OF[self.code]


_CODES: list[Code] = [
    Code(
        "E001",
        Severity.ERROR,
        "syntax error",
        "The parser met a token or character that cannot appear at that point. "
        "The message says what the language expected there (for example a "
        "principle field such as `critique` or `weight`). Declarations and fields "
        "need no separators, so a stray comma or colon is a common cause, as is a "
        "reserved keyword used as a name.",
        'principle helpful {\n    critique: "Point out what the answer leaves out."\n}\n',
        'principle helpful {\n    critique "Point out what the answer leaves out."\n'
        '    revision "Add the missing parts."\n}\n',
    ),
    Code(
        "E002",
        Severity.ERROR,
        "unterminated string or bad escape",
        'A string opened with `"` must close on the same line; use `"""...""" '
        "for text that spans lines. Inside strings only the escapes `\\\"`, "
        "`\\\\`, `\\n`, `\\t` and `\\u{XXXX}` (one to six hex digits) are allowed.",
        'principle helpful {\n    critique "Point out what the answer \\q leaves out."\n'
        '    revision "Add the missing parts."\n}\n',
        'principle helpful {\n    critique "Point out what the answer leaves out."\n'
        '    revision "Add the missing parts."\n}\n',
    ),
    Code(
        "E101",
        Severity.ERROR,
        "unknown reference",
        "A name does not refer to anything declared: a principle, rule, action, "
        "context variable or enum value, deployment, or an item of an imported "
        "module (`alias.name`). Names are case-sensitive. The help line suggests "
        "the closest declared name when there is one.",
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        "priority helpfull > helpful\n",
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle brief {\n    compare "Which response is shorter without losing content?"\n}\n'
        "priority helpful > brief\n",
    ),
    Code(
        "E102",
        Severity.ERROR,
        "duplicate definition",
        "Two declarations share a name in one namespace. Principles and rules "
        "share a namespace (priorities may name either); actions, deployments, "
        "import aliases and context variables each have their own. A principle "
        "added by a deployment may not reuse a name the deployment already sees.",
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle helpful {\n    compare "Which response is shorter?"\n}\n',
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle brief {\n    compare "Which response is shorter?"\n}\n',
    ),
    Code(
        "E103",
        Severity.ERROR,
        "import not found",
        "`import std.NAME` must name a module of the standard library "
        "(`caic` ships them in stdlib_constitutions/), and a quoted import must "
        "name an existing file, relative to the importing file.",
        'import std.harmles\n',
        'import std.harmless\n',
        self_contained=False,
    ),
    Code(
        "E104",
        Severity.ERROR,
        "import cycle",
        "Modules import each other in a loop. A module's items become part of "
        "every constitution that imports it, so a loop has no first module. Move "
        "the shared declarations into a third module that both import.",
        '# a.const\nimport "./b.const"\n# b.const\nimport "./a.const"\n',
        '# a.const\nimport "./shared.const"\n# b.const\nimport "./shared.const"\n',
        self_contained=False,
    ),
    Code(
        "E105",
        Severity.ERROR,
        "import path leaves the allowed folders",
        "A quoted import must resolve (after following symbolic links) to a "
        "file inside the importing file's folder or below it, or inside the "
        "standard library. This keeps a constitution reviewable as one folder.",
        'import "../elsewhere/policy.const" as policy\n',
        'import "./policy.const" as policy\n',
        self_contained=False,
    ),
    Code(
        "E106",
        Severity.ERROR,
        "type error in a condition",
        "A bool variable is used as a condition on its own (`authorized`, "
        "`not authorized`) and compared only with `true` or `false`; an enum "
        "variable is compared with its own values (`risk >= medium`, "
        "`topic in {legal, financial}`), and the order comparisons `<` `<=` "
        "`>` `>=` follow the order the values were declared in. The same context "
        "variable declared twice (for example in two imported modules) must have "
        "the same type, with the same values in the same order.",
        "context {\n    risk: low | medium | high\n}\n"
        'principle careful {\n    compare "Which response names the risks involved?"\n'
        "    applies when risk\n}\n",
        "context {\n    risk: low | medium | high\n}\n"
        'principle careful {\n    compare "Which response names the risks involved?"\n'
        "    applies when risk >= medium\n}\n",
    ),
    Code(
        "E107",
        Severity.ERROR,
        "invalid field",
        "A field is repeated, a weight is not greater than 0, a `detect regex` "
        "does not compile as a Python regular expression, a conflict clause "
        "prefers something that is not one of the conflict's two sides, a rule "
        "does not say exactly one of `never`/`always`, or a few-shot is malformed: "
        "an `example` without a `prompt` (or `user` turn) or `response`; turns "
        "that do not alternate from the user or do not end with the user; a "
        "`comparison` without exactly two `response`s or a `prefer A`/`prefer B`; "
        "a shared (top-level) `example` with a critique but no `critique request` "
        "of its own, or a comparison with no `compare` question from itself or "
        "its principle; `phase` other than `sl` or `rl`; a misspelt contextual "
        "word (`user`, `assistant`, `reasoning`, `request`, `phase`).",
        'principle helpful {\n    compare "Which response answers the question asked?"\n'
        "    weight 0\n}\n",
        'principle helpful {\n    compare "Which response answers the question asked?"\n'
        "    weight 0.5\n}\n",
    ),
    Code(
        "E108",
        Severity.ERROR,
        "principle unusable in either phase",
        "A principle is used in supervised training through its `critique` and "
        "`revision` wording, and in the RL phase through its `compare` question. "
        "A principle with neither a critique+revision pair nor a compare question "
        "cannot be used at all.",
        'principle helpful {\n    description "Answers what was asked."\n}\n',
        'principle helpful {\n    description "Answers what was asked."\n'
        '    compare "Which response answers the question the user asked?"\n}\n',
    ),
    Code(
        "E201",
        Severity.ERROR,
        "priority cycle",
        "All `priority` chains together must form a partial order. A cycle "
        "(`a > b` and `b > a`, perhaps through other members) leaves no member "
        "on top; the message names the cycle. Remove the link that is wrong.",
        'principle a {\n    compare "Which response is shorter?"\n}\n'
        'principle b {\n    compare "Which response cites a source?"\n}\n'
        "priority a > b\npriority b > a\n",
        'principle a {\n    compare "Which response is shorter?"\n}\n'
        'principle b {\n    compare "Which response cites a source?"\n}\n'
        "priority a > b\n",
    ),
    Code(
        "E202",
        Severity.ERROR,
        "contradictory rules",
        "One rule says `never A` and another `always A`, and there is a context "
        "in which both apply; the witness shows one. Either narrow one rule's "
        "condition so they cannot overlap, or state which wins with a priority "
        "(`priority r1 > r2`), which turns the error into information (I401).",
        "context {\n    urgent: bool\n}\n"
        'action share_location "share the user\'s location"\n'
        "rule privacy {\n    never share_location\n}\n"
        "rule rescue {\n    always share_location when urgent\n}\n",
        "context {\n    urgent: bool\n}\n"
        'action share_location "share the user\'s location"\n'
        "rule privacy {\n    never share_location unless urgent\n}\n"
        "rule rescue {\n    always share_location when urgent\n}\n",
    ),
    Code(
        "E203",
        Severity.ERROR,
        "conflict resolution incomplete",
        "A `conflict a vs b` must decide between its sides in every context "
        "where both apply. The witness is a context no clause covers. Add a "
        "clause for it, or a final `prefer X otherwise`.",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle cautious {\n    compare "Which response avoids facilitating harm?"\n}\n'
        "conflict helpful vs cautious {\n    prefer cautious when risk == high\n}\n",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle cautious {\n    compare "Which response avoids facilitating harm?"\n}\n'
        "conflict helpful vs cautious {\n    prefer cautious when risk == high\n"
        "    prefer helpful otherwise\n}\n",
    ),
    Code(
        "E204",
        Severity.ERROR,
        "conflict resolution ambiguous",
        "Clauses of a conflict are unordered, so two clauses that prefer "
        "different sides must never match the same context. The witness is a "
        "context where they both match. Make the conditions disjoint.",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle cautious {\n    compare "Which response avoids facilitating harm?"\n}\n'
        "conflict helpful vs cautious {\n    prefer cautious when risk >= medium\n"
        "    prefer helpful when risk <= medium\n}\n",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle cautious {\n    compare "Which response avoids facilitating harm?"\n}\n'
        "conflict helpful vs cautious {\n    prefer cautious when risk >= medium\n"
        "    prefer helpful when risk == low\n}\n",
    ),
    Code(
        "E205",
        Severity.ERROR,
        "conflict resolution contradicts the priority order",
        "The priority order ranks one side of a conflict above the other, yet a "
        "clause that can match prefers the lower side. The two declarations "
        "disagree about which principle wins; drop the priority link or the "
        "clause.",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle cautious {\n    compare "Which response avoids facilitating harm?"\n}\n'
        "priority cautious > helpful\n"
        "conflict helpful vs cautious {\n    prefer cautious when risk >= medium\n"
        "    prefer helpful otherwise\n}\n",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'principle cautious {\n    compare "Which response avoids facilitating harm?"\n}\n'
        "conflict helpful vs cautious {\n    prefer cautious when risk >= medium\n"
        "    prefer helpful otherwise\n}\n",
    ),
    Code(
        "E206",
        Severity.ERROR,
        "deployment assumptions are unsatisfiable",
        "The `assume` conditions of a deployment, together with those of every "
        "deployment it extends, cannot all hold in any context, so nothing in "
        "the deployment could ever apply.",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        "deployment triage {\n    assume risk == high\n    assume risk == low\n}\n",
        "context {\n    risk: low | medium | high\n}\n"
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        "deployment triage {\n    assume risk == high\n}\n",
    ),
    Code(
        "E207",
        Severity.ERROR,
        "deployment extends cycle",
        "Deployments inherit from the one they extend, ending at `default`. A "
        "chain that returns to where it started has no base.",
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        "deployment a extends b {\n}\ndeployment b extends a {\n}\n",
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        "deployment a {\n}\ndeployment b extends a {\n}\n",
    ),
    Code(
        "E208",
        Severity.ERROR,
        "deployment leaves nothing enabled",
        "After its `disable` lines a deployment has no principle and no rule "
        "left, so there is nothing to train toward.",
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        "deployment bare {\n    disable helpful\n}\n",
        'principle helpful {\n    compare "Which response answers the question asked?"\n}\n'
        'deployment bare {\n    principle brief { compare "Which response is shorter?" }\n'
        "    disable helpful\n}\n",
    ),
    Code(
        "E209",
        Severity.ERROR,
        "deployment weakens a hard rule",
        "A `hard rule` is one no deployment may weaken (language 1.2, section 9): "
        "a deployment that `disable`s it, or gives it a `weight`, is refused. "
        "Remove the override; if the rule really should be adjustable by operators, "
        "declare it as an ordinary `rule` instead.",
        'action give_uplift "give meaningful help towards a weapon of mass harm"\n'
        "hard rule no_uplift {\n    never give_uplift\n}\n"
        'principle helpful {\n    compare "Which response answers the question that was asked?"\n}\n'
        "deployment lab {\n    disable no_uplift\n}\n",
        'action give_uplift "give meaningful help towards a weapon of mass harm"\n'
        "hard rule no_uplift {\n    never give_uplift\n}\n"
        'principle helpful {\n    compare "Which response answers the question that was asked?"\n}\n'
        "deployment lab {\n    weight helpful 2\n}\n",
    ),
    Code(
        "E210",
        Severity.ERROR,
        "something that is not a hard rule outranks a hard rule",
        "Nothing but another hard rule may sit above a hard rule: a `priority` "
        "chain (directly or through other items, in the base or a deployment) "
        "that places an ordinary rule or a principle above it, or a conflict "
        "clause that can prefer such an item over it, would let that item win "
        "where the hard rule applies. Put the hard rule first, or drop the link.",
        'action give_uplift "give meaningful help towards a weapon of mass harm"\n'
        "hard rule no_uplift {\n    never give_uplift\n}\n"
        'principle helpful {\n    compare "Which response answers the question that was asked?"\n}\n'
        "priority helpful > no_uplift\n",
        'action give_uplift "give meaningful help towards a weapon of mass harm"\n'
        "hard rule no_uplift {\n    never give_uplift\n}\n"
        'principle helpful {\n    compare "Which response answers the question that was asked?"\n}\n'
        "priority no_uplift > helpful\n",
    ),
    Code(
        "E211",
        Severity.ERROR,
        "users can change what a hard rule decides",
        "A context variable marked `by user` is one the user's own words can set "
        "(a claimed age, profession or intent). In some deployment there are two "
        "contexts that satisfy its assumptions and differ only in such variables, "
        "yet the hard rule applies in one and not the other, or the verdict it "
        "decides differs: a user could talk their way past it. The witness is the "
        "pair. Make the condition depend only on operator-set variables, or let "
        "the deployment fix the variable with `assume`.",
        'context {\n    adult: bool "the user says they are an adult" by user\n}\n'
        'action write_explicit "write sexually explicit content"\n'
        "hard rule explicit_only_for_adults {\n    never write_explicit unless adult\n}\n",
        'context {\n    adult: bool "the operator verified the user is an adult" by operator\n}\n'
        'action write_explicit "write sexually explicit content"\n'
        "hard rule explicit_only_for_adults {\n    never write_explicit unless adult\n}\n",
    ),
    Code(
        "E212",
        Severity.ERROR,
        "the solver could not decide a check within its limit",
        "Every solver query of `caic check`, `caic test`, `caic diff` and the "
        "language server is bounded: z3 may spend at most `CAIC_SOLVER_RLIMIT` "
        "resource units on it (2,000,000 by default, a count of the solver's "
        "work, so a file is decided the same way on every machine). Conditions "
        "that encode a hard combinatorial problem (a pigeonhole over dozens of "
        "flags) can exhaust it. The check named in the message is then neither "
        "proved nor refuted, so its findings are incomplete; this is an error "
        "because an undecided check must never read as a clean one. Simplify "
        "the conditions (split them, use an enum instead of many exclusive "
        "flags), or raise CAIC_SOLVER_RLIMIT.",
        "context {\n" + "".join(f"    x{i}{j}: bool\n" for i in range(11) for j in range(10)) + "}\n"
        'action a "do a"\nrule r {\n    never a when '
        + " and ".join(["(" + " or ".join(f"x{i}{j}" for j in range(10)) + ")" for i in range(11)]
                       + [f"not (x{i}{j} and x{k}{j})" for j in range(10) for i in range(11) for k in range(i + 1, 11)])
        + "\n}\n",
        'context {\n    hole: h0 | h1 | h2 | h3 | h4 | h5 | h6 | h7 | h8 | h9\n}\n'
        'action a "do a"\nrule r {\n    never a when hole in {h0, h1}\n}\n',
        self_contained=False,  # decided by the limit: tests/check/test_solver_bound.py runs it with a small one
    ),
    Code(
        "W301",
        Severity.WARNING,
        "vague principle",
        "A critique, revision or comparison gives the feedback model no concrete "
        "criterion (for example \"Is the response good?\"). Vague wording makes "
        "AI feedback noisy: say what to look for and what to change.",
        'principle nice {\n    critique "Is the response good?"\n    revision "Make it better."\n'
        '    compare "Which response is better?"\n}\n',
        'principle cites_sources {\n    critique "Point out factual claims that are given without a source."\n'
        '    revision "Add a source for each factual claim, or mark it as unsourced."\n'
        '    compare "Which response backs its factual claims with sources?"\n}\n',
    ),
    Code(
        "W302",
        Severity.WARNING,
        "principle usable in only one phase",
        "A principle with only `compare` is ignored by supervised training "
        "(SL-CAI); one with only `critique` and `revision` is ignored by the RL "
        "phase. Add the missing wording if the principle should steer both. A "
        "constitution meant for one phase only (as the Hugging Face recipe's "
        "critique/revision files are) says so once with `phase sl` or "
        "`phase rl` in its `constitution` header: W302 is then raised only for "
        "a principle that cannot serve that phase.",
        'principle cites_sources {\n    compare "Which response backs its factual claims with sources?"\n}\n',
        'principle cites_sources {\n    critique "Point out factual claims that are given without a source."\n'
        '    revision "Add a source for each factual claim, or mark it as unsourced."\n'
        '    compare "Which response backs its factual claims with sources?"\n}\n',
    ),
    Code(
        "W303",
        Severity.WARNING,
        "over-refusal risk",
        "Harm-avoidance principles outrank every helpfulness principle in every "
        "context, or no helpfulness principle is enabled at all. A model trained "
        "this way learns that refusing is always the least harmful answer. Let "
        "helpfulness win in some contexts (a conflict with context-dependent "
        "clauses) or add a helpfulness principle. Principles are classified by "
        "their tags (`harmless`, `helpful`) and otherwise by their wording.",
        'principle least_harmful {\n    tags [harmless]\n'
        '    critique "Point out anything in the response that could help someone cause harm."\n'
        '    revision "Remove the parts that could help someone cause harm."\n'
        '    compare "Which response gives less help toward causing harm?"\n}\n',
        "context {\n    risk: low | medium | high\n}\n"
        'principle least_harmful {\n    tags [harmless]\n'
        '    critique "Point out anything in the response that could help someone cause harm."\n'
        '    revision "Remove the parts that could help someone cause harm."\n'
        '    compare "Which response gives less help toward causing harm?"\n}\n'
        'principle answers {\n    tags [helpful]\n'
        '    critique "Point out parts of the question the response does not answer."\n'
        '    revision "Answer every part of the question that can safely be answered."\n'
        '    compare "Which response answers more of what the user asked?"\n}\n'
        "conflict answers vs least_harmful {\n    prefer least_harmful when risk == high\n"
        "    prefer answers otherwise\n}\n",
    ),
    Code(
        "W304",
        Severity.WARNING,
        "likely undeclared conflict",
        "Two principles pull in opposite directions (one toward helpfulness, one "
        "toward harm avoidance), can apply in the same context, and nothing "
        "orders them: no priority chain links them and no conflict declares how "
        "to choose. Training will then weigh them by accident. Add a `priority` "
        "or a `conflict` with clauses.",
        'principle maximally_helpful {\n    tags [helpful]\n'
        '    critique "Point out parts of the question the response does not answer."\n'
        '    revision "Answer every part of the question."\n'
        '    compare "Which response answers more of what the user asked?"\n}\n'
        'principle minimise_harm {\n    tags [harmless]\n'
        '    critique "Point out anything in the response that could help someone cause harm."\n'
        '    revision "Remove the parts that could help someone cause harm."\n'
        '    compare "Which response gives less help toward causing harm?"\n}\n',
        'principle maximally_helpful {\n    tags [helpful]\n'
        '    critique "Point out parts of the question the response does not answer."\n'
        '    revision "Answer every part of the question."\n'
        '    compare "Which response answers more of what the user asked?"\n}\n'
        'principle minimise_harm {\n    tags [harmless]\n'
        '    critique "Point out anything in the response that could help someone cause harm."\n'
        '    revision "Remove the parts that could help someone cause harm."\n'
        '    compare "Which response gives less help toward causing harm?"\n}\n'
        "priority maximally_helpful > minimise_harm\n",
    ),
    Code(
        "W305",
        Severity.WARNING,
        "near-duplicate principles",
        "Two principles say nearly the same thing. Duplicates silently double a "
        "criterion's weight when principles are sampled; merge them, or change "
        "the weight of one principle instead.",
        'principle sourced {\n    critique "Point out factual claims that are given without a source."\n'
        '    revision "Add a source for each factual claim."\n'
        '    compare "Which response backs its factual claims with sources?"\n}\n'
        'principle cited {\n    critique "Point out the factual claims that are given without any source."\n'
        '    revision "Add a source for every factual claim."\n'
        '    compare "Which response backs its factual claims with sources?"\n}\n',
        'principle sourced {\n    critique "Point out factual claims that are given without a source."\n'
        '    revision "Add a source for each factual claim."\n'
        '    compare "Which response backs its factual claims with sources?"\n    weight 2\n}\n',
    ),
    Code(
        "W306",
        Severity.WARNING,
        "unused declaration",
        "An action that no rule mentions, or a context variable that no "
        "condition reads, has no effect. Remove it, or write the rule or "
        "condition it was meant for.",
        'action refund "issue a refund"\n'
        'principle polite {\n    critique "Point out rude or curt phrasing."\n'
        '    revision "Rephrase curt sentences politely."\n'
        '    compare "Which response is more polite?"\n}\n',
        'action refund "issue a refund"\n'
        "rule no_refunds {\n    never refund\n}\n"
        'principle polite {\n    critique "Point out rude or curt phrasing."\n'
        '    revision "Rephrase curt sentences politely."\n'
        '    compare "Which response is more polite?"\n}\n',
    ),
    Code(
        "W307",
        Severity.WARNING,
        "condition that can never hold",
        "A principle's `applies when`, a rule's condition or a conflict clause "
        "can never be true, given the deployment's assumptions, so the "
        "declaration is dead. The condition contradicts itself or the `assume` "
        "lines.",
        "context {\n    risk: low | medium | high\n}\n"
        'principle careful {\n    critique "Point out risks the response does not mention."\n'
        '    revision "Name the main risks."\n    compare "Which response names the risks involved?"\n'
        "    applies when risk > high\n}\n",
        "context {\n    risk: low | medium | high\n}\n"
        'principle careful {\n    critique "Point out risks the response does not mention."\n'
        '    revision "Name the main risks."\n    compare "Which response names the risks involved?"\n'
        "    applies when risk >= high\n}\n",
    ),
    Code(
        "W308",
        Severity.WARNING,
        "test whose region is empty",
        "A test's expectations are proved over every context its deployment's "
        "`assume` lines and its `given` condition allow. When no context "
        "satisfies both, every expectation holds vacuously and the test proves "
        "nothing: the `given` contradicts itself or the deployment it names. "
        "Widen the `given`, or move the test to a deployment where it can hold.",
        "context {\n    risk: low | medium | high\n}\n"
        'action share_notes "share clinical notes"\n'
        "rule private {\n    never share_notes when risk >= medium\n}\n"
        "test nothing_shared_when_risky {\n    given risk > high\n    expect never share_notes\n}\n",
        "context {\n    risk: low | medium | high\n}\n"
        'action share_notes "share clinical notes"\n'
        "rule private {\n    never share_notes when risk >= medium\n}\n"
        "test nothing_shared_when_risky {\n    given risk >= high\n    expect never share_notes\n}\n",
    ),
    Code(
        "W309",
        Severity.WARNING,
        "detector pattern that backtracks badly or matches everything",
        "A rule's `detect regex` runs on every model response that `caic eval` "
        "judges and every pair the RLAIF labeller scores. A repetition nested "
        "inside another repetition, such as `(a+)+` or `(\\w+\\s?)+$`, can take "
        "time exponential in the length of a response that does not match under "
        "a backtracking engine; caic runs such patterns under RE2 when RE2 "
        "accepts them, and otherwise stops a search after a time limit and "
        "records the response as not judged. A pattern that can match the empty "
        "string anywhere (`\"\"`, `x*`) flags every response. Rewrite the "
        "repetition so that only one level repeats, or anchor what must be present.",
        'action share_ssn "reveal a social security number"\n'
        'rule no_ssn {\n    never share_ssn\n    detect regex "(\\d+-?)+$"\n}\n',
        'action share_ssn "reveal a social security number"\n'
        'rule no_ssn {\n    never share_ssn\n    detect regex "\\b\\d{3}-\\d{2}-\\d{4}\\b"\n}\n',
    ),
    Code(
        "W310",
        Severity.WARNING,
        "suppression comment that is malformed or silences nothing",
        "`# caic: allow CODE` at the end of a line silences warnings and notes "
        "with that code whose location starts on that line; alone on its line it "
        "covers the next line of code; `# caic: allow-file CODE` covers the whole "
        "file. A comment that names something other than a warning or note code "
        "is reported here (errors cannot be silenced: fix them), and, under "
        "`caic check --strict`, so is one that silenced nothing, so stale "
        "suppressions do not pile up. To say a constitution is for one training "
        "phase only, declare `phase sl` or `phase rl` in its header rather than "
        "silencing W302 for every principle.",
        "# caic: allow W302, E101\n"
        'principle helpful {\n    compare "Which response answers the question that was asked?"\n}\n',
        'principle helpful {  # caic: allow W302\n    compare "Which response answers the question that was asked?"\n}\n',
    ),
    Code(
        "W311",
        Severity.WARNING,
        "hard rule that can never apply in a deployment",
        "The deployment's `assume` lines rule out every context where the hard "
        "rule's condition holds, so the rule protects nothing there. That may be "
        "intended (an operator establishing a fact), but more often the assumption "
        "or the rule's condition is wrong. Check both; the rule is left out of that "
        "deployment's bundle with a note.",
        'context {\n    minors_present: bool "the operator says minors may use the service"\n}\n'
        'action share_alcohol_offers "promote alcohol offers"\n'
        "hard rule no_alcohol_to_minors {\n    never share_alcohol_offers when minors_present\n}\n"
        "deployment adults_only {\n    assume not minors_present\n}\n",
        'context {\n    minors_present: bool "the operator says minors may use the service"\n}\n'
        'action share_alcohol_offers "promote alcohol offers"\n'
        "hard rule no_alcohol_to_minors {\n    never share_alcohol_offers when minors_present\n}\n"
        "deployment family {\n    assume minors_present\n}\n",
    ),
    Code(
        "W312",
        Severity.WARNING,
        "hidden characters: bidirectional controls or invisible characters",
        "Bidirectional controls (U+202A to U+202E, U+2066 to U+2069, U+200E, "
        "U+200F, U+061C) change the order in which text is displayed, and "
        "zero-width or invisible characters (U+200B to U+200D, U+2060 to U+2064, "
        "U+FEFF, U+00AD, U+180E) are not displayed at all. In a principle's "
        "wording, a name, a comment or a detector regex they let a constitution "
        "say to the model, or match in responses, something its reviewers do "
        "not see (the \"Trojan Source\" attack). The message shows the "
        "characters escaped. Delete them; write text that needs another "
        "direction without control characters.",
        'principle honest {\n    critique "Point out claims \u202eyltrevoc\u202c made without evidence."\n'
        '    revision "Support each claim or remove it."\n    compare "Which response supports its claims?"\n}\n',
        'principle honest {\n    critique "Point out claims made without evidence."\n'
        '    revision "Support each claim or remove it."\n    compare "Which response supports its claims?"\n}\n',
    ),
    Code(
        "W313",
        Severity.WARNING,
        "detector pattern that other regex engines read differently",
        "caic runs every `detect regex` one way on every install (the `regex` "
        "module in Python's dialect with ASCII classes: `\\d` is 0-9, `\\w` is "
        "A-Z, a-z, 0-9 and `_`, `(?i)` folds ASCII letters only; see "
        "\"Detector patterns\" in docs/language.md). Two constructs mean "
        "something else in RE2, Go, JavaScript or PCRE, so a pattern copied to "
        "or from those tools changes what it flags: `$` without `(?m)` also "
        "matches before a newline that ends the text here, and only at the very "
        "end there; `(?i)` with a non-ASCII letter folds that letter there and "
        "not here. Write `\\Z` for the very end (or `\\n?\\Z` to allow one final "
        "newline; an engine without `\\Z` refuses it instead of reading it another way), and list both cases of non-ASCII letters (`[éÉ]`).",
        'action leak "reveal an account number"\nrule no_leak {\n    never leak\n    detect regex "acct-[0-9]+$"\n}\n',
        'action leak "reveal an account number"\nrule no_leak {\n    never leak\n    detect regex "acct-[0-9]+\\Z"\n}\n',
    ),
    Code(
        "W314",
        Severity.WARNING,
        "hazard categories the constitution leaves uncovered",
        "`import std.hazards` says the constitution means to cover the twelve "
        "hazard categories of the MLCommons AILuminate benchmark (each has a "
        "Llama Guard 3 counterpart): violent_crimes (S1), sex_related_crimes (S3), "
        "child_sexual_exploitation (S4), suicide_self_harm (S11), "
        "indiscriminate_weapons (S9), intellectual_property (S8), defamation (S5), "
        "non_violent_crimes (S2), hate (S10), privacy (S7), specialized_advice (S6) "
        "and sexual_content (S12). A principle covers a category when it carries "
        "the category's name among its `tags`, in the base constitution or in "
        "any deployment. The warning, on the import, lists every category no "
        "principle is tagged with, so a gap in what the constitution guards "
        "against is seen before red-teaming finds it. Tag the principles that "
        "cover each category, or add principles for those that are missing.",
        "import std.hazards\n"
        'principle no_violence {\n    tags [violent_crimes]\n    critique "Point out help with hurting people."\n'
        '    revision "Rewrite the response without that help."\n}\n',
        "import std.hazards\n"
        'principle harms {\n    tags [violent_crimes, sex_related_crimes, child_sexual_exploitation, suicide_self_harm,\n'
        "          indiscriminate_weapons, intellectual_property, defamation, non_violent_crimes, hate,\n"
        "          privacy, specialized_advice, sexual_content]\n"
        '    critique "Point out content in any of the hazard categories."\n'
        '    revision "Rewrite the response without that content."\n}\n',
    ),
    Code(
        "I401",
        Severity.INFO,
        "rule contradiction resolved by priority",
        "A `never A` rule and an `always A` rule can both apply in some context "
        "(the witness), and a priority (direct or through other members) says "
        "which wins. This is how exceptions are meant to be written; the note "
        "lets a reviewer see where they take effect.",
        "context {\n    urgent: bool\n}\n"
        'action share_location "share the user\'s location"\n'
        "rule privacy {\n    never share_location\n}\n"
        "rule rescue {\n    always share_location when urgent\n}\n"
        "priority rescue > privacy\n",
        "context {\n    urgent: bool\n}\n"
        'action share_location "share the user\'s location"\n'
        "rule privacy {\n    never share_location unless urgent\n}\n"
        "rule rescue {\n    always share_location when urgent\n}\n",
    ),
]

CODES: dict[str, Code] = {entry.code: entry for entry in _CODES}

# Which phase of the checker (`cai_lang.check`) reports each code, in the
# order they run: the parser; the program passes (names, fields, patterns,
# types, tests), whose errors stop the later phases; the passes run once per
# deployment (an extends cycle, E207, is found while resolving but concerns
# deployments and is cut, so it stops nothing); the final passes, which need
# every deployment's results.
PHASES: dict[str, tuple[str, ...]] = {
    "syntax": ("E001", "E002"),
    "program": ("E101", "E102", "E103", "E104", "E105", "E106", "E107", "E108", "W309", "W312", "W313"),
    "deployment": ("E201", "E202", "E203", "E204", "E205", "E206", "E207", "E208", "E209", "E210", "E211", "E212", "W311", "W301", "W302", "W303", "W304", "W305", "W307", "I401"),
    "final": ("W306", "W308", "W310", "W314"),
}
PHASE_OF: dict[str, str] = {code: phase for phase, codes in PHASES.items() for code in codes}
# Errors of these phases leave the model unfit for the deployment passes.
BLOCKING_PHASES = ("syntax", "program")


def lookup(code: str) -> Code | None:
    return CODES.get(code.strip().upper())
