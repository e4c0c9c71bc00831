"""Field values that are wrong on their own: weights, regexes, unusable principles.

E107 for a weight that is not greater than 0 (in a principle or a
deployment's `weight` line) and for a `detect regex` Python cannot compile;
E108 for a principle that neither phase can use; E107 for a few-shot that
has no wording to show: a shared `example` with a critique or revision but
no `critique request` / `revision request`, a `comparison` with no
`compare` question of its own or from its principle. Repeated fields and
conversation shape were already reported when the file was lowered.
"""

from __future__ import annotations

import math
from typing import Iterator

from cai_lang.detector import PatternError, compile_detector
from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.ir.program import Program


def _declarations(module: ir.Module) -> Iterator[ir.Node]:
    for declaration in module.declarations:
        yield declaration
        if isinstance(declaration, ir.Deployment):
            yield from declaration.items


def _weight_problem(weight: ir.Number) -> Diagnostic | None:
    if not math.isfinite(weight.value):
        # 309 digits overflow a float to infinity, which no JSON output can hold.
        text = weight.text if len(weight.text) <= 40 else f"{weight.text[:20]}...({len(weight.text)} digits)"
        return msg.NON_FINITE_WEIGHT.at(weight.span, value=text)
    if weight.value <= 0:
        return msg.BAD_WEIGHT.at(weight.span, value=weight.text)
    return None


def check_fields(program: Program) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for module in program.modules.values():
        for node in _declarations(module):
            if isinstance(node, ir.Principle):
                problem = _weight_problem(node.weight) if node.weight is not None else None
                if problem is not None:
                    found.append(problem)
                sl_ready = node.critique is not None and node.revision is not None
                if not sl_ready and node.compare is None:
                    help_text = "add `compare` for the RL phase, or `critique` and `revision` for the SL phase"
                    found.append(msg.UNUSABLE_PRINCIPLE.at(node.name.span, name=node.name.value, help=help_text))
                for comparison in node.comparisons:
                    if comparison.compare is None and node.compare is None:
                        found.append(msg.COMPARISON_NO_QUESTION.at(comparison.span))
            elif isinstance(node, ir.Example):
                for word in ("critique", "revision"):
                    if getattr(node, word) is not None and getattr(node, f"{word}_request") is None:
                        found.append(msg.SHARED_NEEDS.at(getattr(node, word).span, what="example", field=f"{word} request"))
            elif isinstance(node, ir.Comparison) and node.compare is None:
                found.append(msg.SHARED_NEEDS.at(node.span, what="comparison", field="compare"))
            elif isinstance(node, ir.WeightOverride) and (problem := _weight_problem(node.weight)) is not None:
                found.append(problem)
            elif isinstance(node, ir.Rule) and node.detect is not None:
                try:
                    compile_detector(node.detect.value)  # the one engine every command runs (cai_lang.detector)
                except (PatternError, RecursionError, OverflowError, ValueError) as exc:
                    found.append(msg.BAD_REGEX.at(node.detect.span, error=str(exc)))
    return found
