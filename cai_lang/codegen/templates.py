"""Prompt templates: their sources, the sandboxed Jinja2 environment, free variables, rendering.

The template sources are data files under `cai_lang/codegen/jinja/DIALECT/PHASE.jinja`,
the same for every constitution: a principle's wording, a conversation and
few-shot examples reach a template only as variables, never as template
source, so `{{` or `{%` typed into a principle or a prompt is printed as
written. Templates are rendered in Jinja2's immutable sandbox with
`StrictUndefined`, so a missing variable is an error rather than an empty
string. Each template's free variables (found with
`jinja2.meta.find_undeclared_variables`) must be exactly the set its phase
promises in `PHASE_VARIABLES`; the compiler records them per template in
the bundle. This is the only module besides the compiler that imports jinja2.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from jinja2 import StrictUndefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cai_lang.codegen.bundle import Bundle, Template
from cai_lang.errors import CaicError

DIALECTS = ("chat", "text", "paper")
# `paper` is the text dialect with the comparison frame laid out as in the
# 2022 paper's released evaluation prompts; its other phases are `text`'s.
_FALLBACK = {"paper": "text"}
PHASES = ("critique", "revision", "compare", "compare_cot", "compare_cot_answer")

TEMPLATE_VARIABLES: dict[str, str] = {
    "conversation": "The conversation so far: a list of {role, content} with role `user` or `assistant`. "
    "For critique and revision it ends with the response under review; for comparisons it ends before the two responses.",
    "principle": "The wording of the principle or rule being applied: {critique_request, revision_request, comparison_question} "
    "(the `wording` of a bundle entry).",
    "examples": "Few-shot exemplars, possibly empty: a list of {conversation, prompt, response, critique_request, critique, revision_request, revision} "
    "where `conversation` is the turns before `response` ({role, content}, user first) and `prompt` its first message; "
    "the shared few-shots first, then the principle's own (`Bundle.exemplars(phase, item_id)`).",
    "comparisons": "Labelled comparison few-shots, possibly empty: a list of {conversation, question, response_a, response_b, preferred, reasoning} "
    "with `preferred` `A` or `B` and `reasoning` possibly null; the shared ones first, then the principle's own (`Bundle.comparison_exemplars(item_id)`).",
    "critique": "The critique the model wrote in the critique step.",
    "response_a": "The response shown as option (A).",
    "response_b": "The response shown as option (B).",
    "reasoning": "The model's step-by-step reasoning from the `compare_cot` step, stripped, cut before any `The answer is`.",
    "early_stop": "The bundle's `early_stop.instruction`, appended to the critique request (empty when the bundle has none).",
}

PHASE_VARIABLES: dict[str, frozenset[str]] = {
    "critique": frozenset({"conversation", "principle", "examples", "early_stop"}),
    "revision": frozenset({"conversation", "principle", "examples", "critique", "early_stop"}),
    "compare": frozenset({"conversation", "comparisons", "principle", "response_a", "response_b"}),
    "compare_cot": frozenset({"conversation", "comparisons", "principle", "response_a", "response_b"}),
    "compare_cot_answer": frozenset({"conversation", "comparisons", "principle", "response_a", "response_b", "reasoning"}),
}

# The environment options the sources are written for; recorded in every bundle.
TEMPLATE_OPTIONS: dict[str, bool] = {
    "autoescape": False,
    "keep_trailing_newline": False,
    "lstrip_blocks": True,
    "trim_blocks": True,
}


class TemplateVariableError(CaicError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@lru_cache(maxsize=None)
def environment() -> ImmutableSandboxedEnvironment:
    """The sandbox every template is parsed and rendered in."""
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, **TEMPLATE_OPTIONS)


def template_name(dialect: str, phase: str) -> str:
    return f"{dialect}/{phase}"


def template_source(dialect: str, phase: str) -> str:
    """The shipped source of one template, with `\\n` line ends whatever the checkout did."""
    if dialect not in DIALECTS or phase not in PHASES:
        raise KeyError(f"no template {template_name(dialect, phase)}")
    path = resources.files("cai_lang.codegen").joinpath("jinja", dialect, f"{phase}.jinja")
    if not path.is_file() and dialect in _FALLBACK:
        path = resources.files("cai_lang.codegen").joinpath("jinja", _FALLBACK[dialect], f"{phase}.jinja")
    return path.read_text(encoding="utf-8").replace("\r\n", "\n")


@lru_cache(maxsize=None)
def free_variables(source: str) -> frozenset[str]:
    """The variables a template reads but does not define itself (cached by source:
    parsing the shipped templates again for every compiled deployment cost ~0.15 s each)."""
    return frozenset(meta.find_undeclared_variables(environment().parse(source)))


def template_entries() -> dict[str, Template]:
    """Every template, keyed by `DIALECT/PHASE`, with its free variables checked against its phase."""
    entries: dict[str, Template] = {}
    for dialect in DIALECTS:
        for phase in PHASES:
            source = template_source(dialect, phase)
            found = free_variables(source)
            if found != PHASE_VARIABLES[phase]:
                raise RuntimeError(f"template {template_name(dialect, phase)} uses {sorted(found)}, its phase promises {sorted(PHASE_VARIABLES[phase])}")
            name = template_name(dialect, phase)
            entries[name] = Template(
                name=name,
                dialect=dialect,
                phase=phase,
                output="messages" if dialect == "chat" else "text",
                variables=tuple(sorted(found)),
                file=f"templates/{name}.jinja",
                source=source,
            )
    return entries


@lru_cache(maxsize=64)
def _compiled(source: str):
    # The trainer renders the same few templates thousands of times; parse each once.
    return environment().from_string(source)


def render(template: Template, variables: Mapping[str, Any]) -> str | list[dict[str, str]]:
    """Render a template: a prompt string (text dialect) or a list of {role, content} (chat)."""
    missing = [name for name in template.variables if name not in variables]
    if missing:
        raise TemplateVariableError(f"template {template.name} needs {', '.join(missing)}")
    rendered = _compiled(template.source).render({name: variables[name] for name in template.variables})
    if template.output == "text":
        return rendered
    messages = json.loads(rendered)
    if not isinstance(messages, list) or not all(isinstance(m, dict) and set(m) == {"role", "content"} for m in messages):
        raise ValueError(f"template {template.name} did not render to a list of {{role, content}} messages")
    return messages


def prompt_variables(
    bundle: Bundle,
    item_id: str,
    phase: str,
    *,
    conversation: list[Mapping[str, str]],
    critique: str | None = None,
    response_a: str | None = None,
    response_b: str | None = None,
    reasoning: str | None = None,
    examples: list[Mapping[str, Any]] | None = None,
    comparisons: list[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The variables for `phase` of one principle or rule; `examples` and `comparisons`
    default to the shared few-shots followed by the item's own."""
    entry = bundle.item(item_id)
    wording = entry.wording
    needed = {"critique": wording.critique_request, "revision": wording.revision_request}.get(phase, wording.comparison_question)
    if needed is None:
        served = ", ".join(entry.phases) or "no phase"
        raise ValueError(f"`{item_id}` has no wording for the {phase} phase (it serves {served})")
    if phase == "revision" and wording.critique_request is None:
        raise ValueError(f"`{item_id}` has no critique request, which the revision prompt repeats")
    if examples is None and phase in ("critique", "revision"):
        examples = bundle.exemplars(phase, item_id)
    if comparisons is None and phase.startswith("compare"):
        comparisons = bundle.comparison_exemplars(item_id)
    values = {
        "conversation": [dict(turn) for turn in conversation],
        "principle": wording.model_dump(),
        "examples": [dict(example) for example in examples or ()],
        "comparisons": [dict(comparison) for comparison in comparisons or ()],
        "critique": critique,
        "response_a": response_a,
        "response_b": response_b,
        "reasoning": reasoning,
        "early_stop": bundle.early_stop.instruction if bundle.early_stop is not None else "",
    }
    return {name: value for name, value in values.items() if name in PHASE_VARIABLES[phase] and value is not None}


def render_prompt(bundle: Bundle, item_id: str, phase: str, dialect: str = "chat", **values: Any) -> str | list[dict[str, str]]:
    """Render what the model sees for one principle or rule in one phase (see `prompt_variables`)."""
    template = bundle.templates[template_name(dialect, phase)]
    return render(template, prompt_variables(bundle, item_id, phase, **values))
