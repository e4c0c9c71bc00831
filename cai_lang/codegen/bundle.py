"""The bundle: the one artefact the trainer reads, as pydantic models.

A bundle is a compiled deployment of a constitution: its principles and
rules with effective weights, priority tiers, wording and applicability;
conflicts with their resolutions; the context schema; every prompt template
with the variables it needs; the compiler version; and `content_hash`, the
SHA-256 of the bundle's canonical JSON (keys sorted, fixed separators,
`content_hash` itself left out). Lists are sorted by id when they are
written, so the hash does not depend on declaration order, comments,
whitespace or spans: none of those reach the bundle.

This module is the trainer's contract. It must import without jinja2 (the
trainer loads bundles cheaply and renders through `cai_lang.codegen.templates`
only when it needs a prompt), and `load_bundle` refuses a file whose hash
does not match its contents. `docs/compiler.md` describes every field.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from cai_lang.codegen.conditions import (
    ContextVariableSpec,
    Expr,
    Label,
    applies,
    decide,
)
from cai_lang.errors import CaicError, describe_os_error

BUNDLE_FORMAT = 1
BUNDLE_FILE = "bundle.json"

Phase = Literal["sl", "rl"]
Dialect = Literal["chat", "text", "paper"]
TemplatePhase = Literal["critique", "revision", "compare", "compare_cot", "compare_cot_answer"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Condition(_Model):
    """A context condition, as a tree for machines and as plain English for people."""

    tree: Expr
    text: str = Field(description="The condition in plain English.")


class Wording(_Model):
    """What a principle or rule asks of the model in each phase; None where it has no such wording."""

    critique_request: str | None = None
    revision_request: str | None = None
    comparison_question: str | None = None


class Turn(_Model):
    role: Literal["user", "assistant"]
    content: str


class Example(_Model):
    """An `example` block, as written; any field may be missing.

    The conversation before `response` is `prompt` then `turns`. The request
    fields are the example's own wording; None means the principle's."""

    prompt: str | None = None
    response: str | None = None
    critique: str | None = None
    revision: str | None = None
    turns: tuple[Turn, ...] = Field((), description="Turns after `prompt` and before `response`, in order (a multi-turn few-shot).")
    critique_request: str | None = None
    revision_request: str | None = None

    def conversation(self) -> list[dict[str, str]]:
        opening = [{"role": "user", "content": self.prompt}] if self.prompt is not None else []
        return opening + [turn.model_dump() for turn in self.turns]


class ComparisonExample(_Model):
    """A `comparison` block: a labelled comparison few-shot."""

    conversation: tuple[Turn, ...]
    question: str | None = Field(None, description="The comparison question; None means the principle's own.")
    response_a: str
    response_b: str
    preferred: Literal["A", "B"]
    reasoning: str | None = None


class FewShot(_Model):
    """The constitution's shared few-shots, in declaration order (the order they are shown in)."""

    examples: tuple[Example, ...] = ()
    comparisons: tuple[ComparisonExample, ...] = ()


class PrincipleEntry(_Model):
    id: str = Field(description="Qualified id: `helpful`, or `harmless.least_harmful` for an imported one.")
    description: str | None = None
    origin: str = Field(description="The deployment that declared it (`default` for the base constitution).")
    weight: float = Field(description="Effective weight in this deployment (after `weight` overrides).")
    tier: int = Field(description="Priority tier: 0 outranks 1; items no priority ranks below another are in tier 0.")
    tags: tuple[str, ...] = ()
    applies: Condition = Field(description="Where the principle applies (`true` when it has no `applies when`).")
    wording: Wording
    examples: tuple[Example, ...] = ()
    comparisons: tuple[ComparisonExample, ...] = ()
    phases: tuple[Phase, ...] = Field(description="`sl` when it has critique and revision wording, `rl` when it has a comparison question.")


class RuleEntry(_Model):
    id: str
    origin: str
    verdict: Literal["never", "always"]
    action: str = Field(description="The action's qualified id.")
    action_text: str = Field(description="The action in words, as declared (or its name with spaces).")
    statement: str = Field(description="The whole rule in plain English.")
    weight: float = Field(description="Rules carry weight 1.0; the language has no way to change it.")
    tier: int
    applies: Condition = Field(description="Where the rule is in force: its `when` condition, or `not C` for `unless C`.")
    wording: Wording = Field(description="Critique, revision and comparison wording generated from the action and condition.")
    detect: str | None = Field(default=None, description="A Python regular expression; a match in a response is a violation.")
    phases: tuple[Phase, ...]
    hard: bool = Field(False, description="A `hard rule`: no deployment and no user may weaken it (language 1.2); left out when false.")


class PriorityOrder(_Model):
    tiers: tuple[tuple[str, ...], ...] = Field(description="Enabled principle and rule ids by tier, tier 0 first; ids sorted within a tier.")
    order: tuple[tuple[str, str], ...] = Field(description="Every pair [higher, lower] of enabled items the priority chains rank, directly or transitively; sorted.")


class Clause(_Model):
    prefer: str
    when: Condition | None = Field(default=None, description="None for `prefer X otherwise`.")


class ConflictEntry(_Model):
    left: str
    right: str
    origin: str
    clauses: tuple[Clause, ...] = Field(description="Conditional clauses sorted, the `otherwise` clause last.")
    resolution: str = Field(description="How the conflict resolves, in plain English.")


class Reweight(_Model):
    id: str
    before: float
    after: float


class Changes(_Model):
    """What a deployment changed against the deployment it extends."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reweighted: tuple[Reweight, ...] = ()
    assumptions: tuple[Condition, ...] = ()
    priorities: tuple[tuple[str, ...], ...] = ()
    conflicts: tuple[tuple[str, str], ...] = ()


class DeploymentInfo(_Model):
    name: str
    base: str | None = Field(description="The deployment this one extends; None for `default`.")
    chain: tuple[str, ...] = Field(description="`default` ... this deployment.")
    assumptions: tuple[Condition, ...] = Field(description="Every `assume` along the chain; all hold in this deployment.")
    changes: Changes | None = Field(description="Changes against `base`; None for `default`.")


class ConstitutionInfo(_Model):
    name: str
    version: str | None = None
    description: str | None = None
    phase: Phase | None = Field(None, description="The one training phase the constitution declares it is for (`phase sl`); left out when it declares none.")


class Template(_Model):
    name: str = Field(description="`DIALECT/PHASE`, e.g. `chat/critique`.")
    dialect: Dialect
    phase: TemplatePhase
    output: Literal["messages", "text"] = Field(description="`messages`: renders to a JSON list of {role, content}; `text`: a plain prompt.")
    variables: tuple[str, ...] = Field(description="The template's free variables, sorted: exactly what the caller must provide.")
    file: str = Field(description="Where the compiler wrote the source, relative to the bundle's folder.")
    source: str = Field(description="The Jinja2 source; render it in a sandboxed environment with StrictUndefined and `template_options`.")


class EarlyStop(_Model):
    """How the critic says a response needs no revision, so the SL loop can stop early.

    The critique and revision templates append `instruction` to the critique
    request; a critique that is `reply` ends that prompt's loop. Both sit in
    the bundle so the content hash covers what the critic is told.
    """

    reply: str = Field(description="The exact critique that means there is nothing to fix.")
    instruction: str = Field(description="The sentence appended to every critique request; it quotes `reply`.")


class Permission(_Model):
    """Who can change the verdict on one action in this deployment (language 1.2, section 9)."""

    action: str
    who: Literal["nobody", "operator", "user"] = Field(
        description="`nobody`: hard rules decide it everywhere; `operator`: a deployment can (disable, reweight, assume); `user`: the user's own words can."
    )
    variables: tuple[str, ...] = Field((), description="For `user`: the `by user` variables through which.")


class Omitted(_Model):
    """An item left out of this deployment's bundle, and why."""

    id: str
    kind: Literal["principle", "rule"]
    note: str


class Bundle(_Model):
    format: int = Field(BUNDLE_FORMAT, description="Version of this bundle format.")
    compiler_version: str
    constitution: ConstitutionInfo
    deployment: DeploymentInfo
    context: tuple[ContextVariableSpec, ...] = Field(description="The context schema, sorted by name.")
    principles: tuple[PrincipleEntry, ...] = Field(description="Enabled principles, sorted by id.")
    rules: tuple[RuleEntry, ...] = Field(description="Enabled rules, sorted by id.")
    priority: PriorityOrder
    conflicts: tuple[ConflictEntry, ...] = Field(description="Conflicts whose two sides are both enabled, sorted.")
    template_variables: dict[str, str] = Field(description="Every variable a template may use, with what it holds.")
    template_options: dict[str, bool] = Field(description="Jinja2 environment options the templates are written for.")
    templates: dict[str, Template]
    early_stop: EarlyStop | None = Field(
        None, description="The critique that ends the SL loop early, and how the critic is asked for it; null in bundles compiled before it existed."
    )
    few_shot: FewShot = Field(
        default_factory=FewShot, description="Shared few-shots: every prompt shows them, before the drawn principle's own examples."
    )
    permissions: tuple[Permission, ...] = Field((), description="Per action, who can change its verdict; sorted by action (language 1.2).")
    omitted: tuple[Omitted, ...] = Field((), description="Items that can never apply in this deployment, left out of it, with a note (language 1.2).")
    content_hash: str = Field("", description="SHA-256 (hex) of the canonical bundle without this field.")

    # ------------------------------------------------------------ hashing and files
    def canonical_json(self) -> bytes:
        # A bundle compiled before `early_stop` existed was hashed without it.
        exclude = {"content_hash"} | ({"early_stop"} if self.early_stop is None else set())
        return canonical_json(_without_empty_few_shots(self.model_dump(mode="json", exclude=exclude)))

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()

    def sealed(self) -> "Bundle":
        """This bundle with `content_hash` filled in."""
        return self.model_copy(update={"content_hash": self.compute_hash()})

    def to_json(self) -> str:
        """The text of `bundle.json`: stable, indented, sorted keys, a final newline."""
        return json.dumps(_without_empty_few_shots(self.model_dump(mode="json")), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    # ------------------------------------------------------------ lookups for the trainer
    def principle(self, item_id: str) -> PrincipleEntry:
        for entry in self.principles:
            if entry.id == item_id:
                return entry
        raise KeyError(f"no enabled principle `{item_id}` in deployment `{self.deployment.name}`")

    def rule(self, item_id: str) -> RuleEntry:
        for entry in self.rules:
            if entry.id == item_id:
                return entry
        raise KeyError(f"no enabled rule `{item_id}` in deployment `{self.deployment.name}`")

    def item(self, item_id: str) -> PrincipleEntry | RuleEntry:
        """A principle or rule by id."""
        for entry in (*self.principles, *self.rules):
            if entry.id == item_id:
                return entry
        left_out = next((o for o in self.omitted if o.id == item_id), None)
        if left_out is not None:
            raise KeyError(f"{left_out.kind} `{item_id}` is not in deployment `{self.deployment.name}`: {left_out.note}")
        raise KeyError(f"no enabled principle or rule `{item_id}` in deployment `{self.deployment.name}`")

    def context_schema(self) -> dict[str, ContextVariableSpec]:
        return {variable.name: variable for variable in self.context}

    def decide(self, condition: Condition | None, labels: Mapping[str, Label]) -> bool | None:
        """Three-valued: True holds, False cannot hold, None depends on unlabelled variables.
        The deployment's assumptions narrow what unlabelled variables can be."""
        if condition is None:
            return True
        return decide(condition.tree, labels, self.context_schema(), [a.tree for a in self.deployment.assumptions])

    def applies(self, condition: Condition | None, labels: Mapping[str, Label]) -> bool:
        """A condition that holds, or might hold, for a prompt with these labels counts as applying."""
        if condition is None:
            return True
        return applies(condition.tree, labels, self.context_schema(), [a.tree for a in self.deployment.assumptions])

    def principles_for(self, labels: Mapping[str, Label], phase: Phase | None = None) -> list[PrincipleEntry]:
        """Principles that apply to a prompt with these labels (and serve `phase`, if given)."""
        return [p for p in self.principles if (phase is None or phase in p.phases) and self.applies(p.applies, labels)]

    def rules_for(self, labels: Mapping[str, Label]) -> list[RuleEntry]:
        return [r for r in self.rules if self.applies(r.applies, labels)]

    def exemplars(self, phase: Literal["critique", "revision"], item_id: str | None = None, *, shared: bool = True, own: bool = True) -> list[dict[str, Any]]:
        """Few-shot exemplars in the shape the `examples` template variable expects.

        The shared few-shots come first, in declaration order, then the
        `example` blocks of principles that serve the SL phase (all of them,
        in id order, or only `item_id`'s). An example needs a conversation, a
        response and a critique (and its request wording, its own or its
        principle's) to serve the critique phase, and a revision as well to
        serve the revision phase. `shared` and `own` choose which of the two
        kinds to include.
        """
        sources: list[tuple[Example, Wording | None]] = [(example, None) for example in self.few_shot.examples] if shared else []
        for principle in self.principles if own else ():
            if (item_id is not None and principle.id != item_id) or "sl" not in principle.phases:
                continue
            sources += [(example, principle.wording) for example in principle.examples]
        found = []
        for example, wording in sources:
            critique_request = example.critique_request or (wording.critique_request if wording else None)
            revision_request = example.revision_request or (wording.revision_request if wording else None)
            conversation = example.conversation()
            if not (conversation and example.response and example.critique and critique_request):
                continue
            if phase == "revision" and not (example.revision and revision_request):
                continue
            found.append(
                {
                    "conversation": conversation,
                    "prompt": conversation[0]["content"],
                    "response": example.response,
                    "critique_request": critique_request,
                    "critique": example.critique,
                    "revision_request": revision_request,
                    "revision": example.revision,
                }
            )
        return found

    def comparison_exemplars(self, item_id: str | None = None) -> list[dict[str, Any]]:
        """Labelled comparisons in the shape the `comparisons` template variable expects:
        the shared ones first, then those of `item_id` (or of every principle), each with
        its question (its own, or its principle's)."""
        sources: list[tuple[ComparisonExample, str | None]] = [(c, None) for c in self.few_shot.comparisons]
        for principle in self.principles:
            if item_id is None or principle.id == item_id:
                sources += [(c, principle.wording.comparison_question) for c in principle.comparisons]
        found = []
        for comparison, default_question in sources:
            question = comparison.question or default_question
            if question is None:
                continue
            found.append(
                {
                    "conversation": [turn.model_dump() for turn in comparison.conversation],
                    "question": question,
                    "response_a": comparison.response_a,
                    "response_b": comparison.response_b,
                    "preferred": comparison.preferred,
                    "reasoning": comparison.reasoning,
                }
            )
        return found


def _without_empty_few_shots(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out few-shot fields that are empty, in the file and in the hash alike:
    bundles compiled before those fields existed were written and hashed
    without them, so they still load and verify."""
    def example(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if not (k == "turns" and not v or k.endswith("_request") and v is None)}

    if data.get("constitution", {}).get("phase", "") is None:
        data["constitution"].pop("phase")
    # Language 1.2 fields at their defaults are left out too, so a bundle
    # that uses none of them reads and hashes as it did before.
    for key in ("permissions", "omitted"):
        if key in data and not data[key]:
            data.pop(key)
    for variable in data.get("context", ()):
        if variable.get("description", "") is None:
            variable.pop("description")
        if variable.get("set_by") == "operator":
            variable.pop("set_by")
    for rule in data.get("rules", ()):
        if rule.get("hard") is False:
            rule.pop("hard")
    if data.get("few_shot") == {"examples": [], "comparisons": []}:
        data.pop("few_shot")
    for principle in data.get("principles", ()):
        if not principle.get("comparisons"):
            principle.pop("comparisons", None)
        principle["examples"] = [example(e) for e in principle.get("examples", ())]
    if "few_shot" in data:
        data["few_shot"]["examples"] = [example(e) for e in data["few_shot"]["examples"]]
    return data


def canonical_json(data: Any) -> bytes:
    """The bytes the content hash is taken over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


class BundleError(CaicError, ValueError):
    """A bundle file that cannot be used: unreadable, malformed, or altered since it was compiled."""


def load_bundle(path: str | Path, *, verify: bool = True) -> Bundle:
    """Read a bundle from `bundle.json` or from the folder that holds it.

    With `verify` (the default) the content hash is recomputed and a bundle
    edited by hand after compiling is refused.
    """
    path = Path(path)
    if path.is_dir():
        path = path / BUNDLE_FILE
    try:
        bundle = Bundle.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleError(describe_os_error(exc, "read", path)) from exc
    except ValueError as exc:
        raise BundleError(f"{path} is not a valid bundle: {exc}") from exc
    if bundle.format != BUNDLE_FORMAT:
        raise BundleError(f"{path} has bundle format {bundle.format}; this caic reads format {BUNDLE_FORMAT}")
    if verify and bundle.compute_hash() != bundle.content_hash:
        raise BundleError(f"{path}: content_hash does not match the contents (was the file edited after compiling?)")
    return bundle
