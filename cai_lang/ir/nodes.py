"""The syntax-level IR: one frozen pydantic node per construct of a `.const` file.

These nodes are what the parser produces and what the formatter prints:
they mirror the source (names as written, `unless` kept apart from `when`)
and every node carries its `Span`. Meaning (which `helpful` a reference
denotes, what a deployment inherits) is worked out later by `cai_lang.check`
into the resolved model of `cai_lang.ir.model`. Conditions are a tagged
union (`kind`) so they serialise into bundles and come back unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from cai_lang.span import Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    span: Span


class Name(Node):
    """An identifier as written at one place in the source."""

    value: str


class Text(Node):
    """A string literal, escapes decoded and triple-quoted text dedented."""

    value: str


class Number(Node):
    value: float
    text: str


class Ref(Node):
    """A reference to a declared item: `name`, or `alias.name` for an imported one."""

    module: str | None = None
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name


# ---------------------------------------------------------------- conditions


class BoolConst(Node):
    kind: Literal["const"] = "const"
    value: bool


class VarCond(Node):
    """A bool context variable used as a condition on its own."""

    kind: Literal["var"] = "var"
    var: Name


class CompareCond(Node):
    kind: Literal["compare"] = "compare"
    var: Name
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    value: Name


class InCond(Node):
    kind: Literal["in"] = "in"
    var: Name
    values: tuple[Name, ...]


class NotCond(Node):
    kind: Literal["not"] = "not"
    operand: "Condition"


class AndCond(Node):
    kind: Literal["and"] = "and"
    operands: tuple["Condition", ...]


class OrCond(Node):
    kind: Literal["or"] = "or"
    operands: tuple["Condition", ...]


Condition = Annotated[
    Union[BoolConst, VarCond, CompareCond, InCond, NotCond, AndCond, OrCond],
    Field(discriminator="kind"),
]

# ---------------------------------------------------------------- declarations


class Header(Node):
    name: Name
    version: Text | None = None
    description: Text | None = None
    phase: Name | None = None  # `sl` or `rl`: the constitution is for that training phase only


class Import(Node):
    """`import std.NAME [as A]` or `import "path" [as A]`."""

    target: str
    target_span: Span
    is_path: bool
    alias: Name | None = None

    @property
    def alias_name(self) -> str:
        """The name items of the module are referred to by: the alias or the last name part."""
        if self.alias is not None:
            return self.alias.value
        last = self.target.replace("\\", "/").rsplit("/", 1)[-1]
        if self.is_path:
            return last[: -len(".const")] if last.endswith(".const") else last.split(".")[0]
        return self.target.rsplit(".", 1)[-1]


class BoolType(Node):
    kind: Literal["bool"] = "bool"


class EnumType(Node):
    kind: Literal["enum"] = "enum"
    values: tuple[Name, ...]


ContextType = Annotated[Union[BoolType, EnumType], Field(discriminator="kind")]


class ContextVar(Node):
    """`NAME : TYPE ["description"] [by user|by operator]` (description and `by`: version 1.2)."""

    name: Name
    type: ContextType
    description: Text | None = None
    by: Name | None = None  # `user` or `operator` as written; absent means `operator`

    @property
    def set_by(self) -> str:
        """Who may establish the variable: `user` (the conversation) or `operator` (the deployment)."""
        return self.by.value if self.by is not None else "operator"


class ContextBlock(Node):
    variables: tuple[ContextVar, ...]


class Action(Node):
    name: Name
    text: Text | None = None


class Turn(Node):
    """One turn of an example's conversation: `user "..."` or `assistant "..."`."""

    role: Literal["user", "assistant"]
    text: Text


class Example(Node):
    """A critique/revision few-shot: in a principle, or shared when declared at the top level.

    The conversation is `prompt` (its opening user turn) then `turns` in the
    order written; `response` is the assistant reply under review. The
    request fields give a shared example its own wording (in a principle's
    example they default to the principle's critique and revision)."""

    prompt: Text | None = None
    response: Text | None = None
    critique: Text | None = None
    revision: Text | None = None
    turns: tuple[Turn, ...] = ()
    critique_request: Text | None = None
    revision_request: Text | None = None

    def conversation(self) -> list[tuple[str, str]]:
        """(role, text) of every turn before the response, the prompt first."""
        opening = [("user", self.prompt.value)] if self.prompt is not None else []
        return opening + [(t.role, t.text.value) for t in self.turns]


class Comparison(Node):
    """A labelled comparison few-shot: a conversation, responses (A) and (B), the preferred one.

    `compare` is the question asked; in a principle it defaults to the
    principle's own `compare`."""

    prompt: Text | None = None
    turns: tuple[Turn, ...] = ()
    responses: tuple[Text, ...] = ()
    compare: Text | None = None
    prefer: Name | None = None  # `A` or `B`
    reasoning: Text | None = None

    def conversation(self) -> list[tuple[str, str]]:
        opening = [("user", self.prompt.value)] if self.prompt is not None else []
        return opening + [(t.role, t.text.value) for t in self.turns]


class Principle(Node):
    name: Name
    description: Text | None = None
    critique: Text | None = None
    revision: Text | None = None
    compare: Text | None = None
    weight: Number | None = None
    tags: tuple[Name, ...] = ()
    applies: Condition | None = None
    examples: tuple[Example, ...] = ()
    comparisons: tuple[Comparison, ...] = ()


class Rule(Node):
    name: Name
    hard: bool = False  # `hard rule` (version 1.2): no deployment and no user may weaken it
    verdict: Literal["never", "always"] | None = None
    verdict_span: Span | None = None  # `never ACTION [when|unless COND]`
    action: Ref | None = None
    guard: Literal["when", "unless"] | None = None
    condition: Condition | None = None
    detect: Text | None = None

    @property
    def effective_condition(self) -> "Condition | None":
        """The context in which the rule applies: `unless C` means `when not C`."""
        if self.condition is None:
            return None
        if self.guard == "unless":
            return NotCond(span=self.condition.span, operand=self.condition)
        return self.condition


class Priority(Node):
    members: tuple[Ref, ...]


class PreferClause(Node):
    """`prefer X when C`, or `prefer X otherwise` when `condition` is None."""

    side: Ref
    condition: Condition | None = None


class Conflict(Node):
    left: Ref
    right: Ref
    clauses: tuple[PreferClause, ...] = ()


class Assume(Node):
    condition: Condition


class WeightOverride(Node):
    target: Ref
    weight: Number


class Disable(Node):
    target: Ref


class Enable(Node):
    target: Ref


DeploymentItem = Union[Assume, WeightOverride, Disable, Enable, Principle, Rule, Priority, Conflict]


class Deployment(Node):
    name: Name
    extends: Name | None = None
    items: tuple[DeploymentItem, ...] = ()


Declaration = Union[ContextBlock, Action, Principle, Rule, Priority, Conflict, Deployment, Example, Comparison]


# ---------------------------------------------------------------- tests (version 1.1)


class Expectation(Node):
    """One `expect` line of a test. `kind` is the verdict (`never`, `always`,
    `allowed`) on action `target`, or `applies`, `over` (`target over other`)
    or `detect` (rule `target` on `text`), or `users` (`users can change
    target`; version 1.2); `negated` for `not applies`, `not detect` and
    `users cannot change`. The span covers the whole line from `expect`."""

    kind: Literal["never", "always", "allowed", "applies", "over", "detect", "users"]
    negated: bool = False
    target: Ref
    other: Ref | None = None
    text: Text | None = None

    def describe(self) -> str:
        """The expectation as written, canonically: `expect never disclose_phi`."""
        if self.kind == "over":
            return f"expect {self.target} over {self.other}"
        if self.kind == "users":
            return f"expect users {'cannot' if self.negated else 'can'} change {self.target}"
        word = ("not " if self.negated else "") + self.kind
        if self.kind == "detect" and self.text is not None:
            return f"expect {word} {self.target} {_quoted(self.text.value)}"
        return f"expect {word} {self.target}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Test(Node):
    """`test NAME { deployment D  given C  expect ... }`: never part of the constitution."""

    __test__ = False  # not a pytest test class, whatever its name

    name: Name
    deployment: Name | None = None
    given: Condition | None = None
    expects: tuple[Expectation, ...] = ()


# Tests sit among the declarations of a module (in source order, for the
# formatter and the editor); every pass over the constitution skips them.
Declaration = Union[Declaration, Test]


class Comment(Node):
    text: str


class Module(BaseModel):
    """One parsed `.const` file."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    path: str
    display: str
    header: Header | None = None
    imports: tuple[Import, ...] = ()
    declarations: tuple[Declaration, ...] = ()
    comments: tuple[Comment, ...] = ()

    def of_type(self, kind: type) -> list:
        return [d for d in self.declarations if isinstance(d, kind)]
