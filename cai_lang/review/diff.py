"""`caic diff OLD NEW`: every change of behaviour between two versions of a
constitution (language 1.1, section 8), deployment by deployment.

Both versions are checked (a file with errors refuses the diff), then each
deployment present in both is compared over the joint context
(`joint.py`), within the contexts both versions' assumptions admit, with
the semantics of `verdict.py` encoded by the checker's `ContextSolver`:
applicability of every item, the verdict on every action (permission
classified `stricter` / `looser` / `incomparable`, obligation too), the
winner of every pair that a conflict or the priority order relates, plus
added and removed items, wording and effective weights, and the bundle's
`content_hash`. z3 terms are hash-consed, so formulas equal in both
versions are recognised without a solver call; reordering and reformatting
therefore cost nothing and report nothing. A change found in several
deployments is reported once, for the first, listing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import z3

from cai_lang.api import Report, check_file
from cai_lang.check.authority import user_change_pair
from cai_lang.check.solver import ContextSolver
from cai_lang.check.verdict import Semantics, item_condition
from cai_lang.errors import CaicError
from cai_lang.ir.model import Constitution, PrincipleDef
from cai_lang.ir.resolve import resolve_deployment
from cai_lang.review.joint import JointContext
from cai_lang.span import Span, paused_collector
from cai_lang.syntax.loader import ModuleCache
from cai_lang.syntax.printer import print_condition

_WORDING = ("description", "critique", "revision", "compare")


class DiffRefused(CaicError):
    def __init__(self, message: str, report: Report):
        super().__init__(message)
        self.report = report


@dataclass
class Change:
    kind: str
    deployment: str | None
    item: str
    change: str
    old: object = None
    new: object = None
    witness: dict | None = None
    old_span: Span | None = None
    witness_other: dict | None = None  # `authority`: the second context of the witness pair
    new_span: Span | None = None
    also_in: list[str] = field(default_factory=list)

    def identity(self) -> tuple:
        return (self.kind, self.item, self.change, repr(self.old), repr(self.new))


@dataclass
class DiffResult:
    old_file: str
    new_file: str
    changes: list[Change] = field(default_factory=list)
    hashes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    sources: dict = field(default_factory=dict)  # display name -> SourceFile, both versions


def _load(path: str, cache: ModuleCache, which: str):
    result = check_file(path, cache=cache)
    if result.errors or result.constitution is None:
        report = Report(results=[result], diagnostics=result.diagnostics, sources=result.program.source_by_display())
        raise DiffRefused(f"the {which} version {path} has errors; nothing was compared", report)
    return result


def diff_files(old: str, new: str, *, deployment: str | None = None) -> DiffResult:
    """Compare two constitution files. Raises DiffRefused when either has errors,
    OSError when one cannot be read, KeyError for a deployment in neither."""
    # Like the checker, pause the cyclic collector: the run allocates many
    # small acyclic objects while two whole constitutions are alive.
    with paused_collector():
        cache = ModuleCache()
        old_result, new_result = _load(old, cache, "old"), _load(new, cache, "new")
        result = DiffResult(old, new)
        for checked in (old_result, new_result):
            result.sources.update(checked.program.source_by_display())
        _Differ(old_result.constitution, new_result.constitution, result).run(deployment)
    return result


class _Differ:
    def __init__(self, old: Constitution, new: Constitution, result: DiffResult):
        self.old, self.new, self.result = old, new, result
        self.joint = JointContext(old.context, new.context)
        self.solver = ContextSolver(self.joint.variables)
        self.seen: dict[tuple, Change] = {}
        self.bundle_changes: list[Change] = []

    def add(self, change: Change) -> None:
        key = change.identity()
        if change.deployment is not None and key in self.seen:
            self.seen[key].also_in.append(change.deployment)
            return
        self.seen[key] = change
        self.result.changes.append(change)

    def encoder(self, version: str):
        return lambda cond: self.solver.encode(self.joint.translate(cond, version))

    def run(self, only: str | None) -> None:
        names = list(self.old.deployments) + [n for n in self.new.deployments if n not in self.old.deployments]
        if only is not None:
            if only not in names:
                raise KeyError(f"no deployment named `{only}` in either version (deployments: {', '.join(names)})")
            names = [only]
        for var, change, before, after in self.joint.schema_changes() + _meaning_changes(self.old, self.new):
            self.add(Change("context", None, var, change, before, after, old_span=_var_span(self.old, var), new_span=_var_span(self.new, var)))
        for name in names:
            in_old, in_new = name in self.old.deployments, name in self.new.deployments
            if not (in_old and in_new):
                constitution = self.new if in_new else self.old
                span = constitution.deployments[name].span or constitution.anchor
                self.add(Change("deployment", name, name, "added" if in_new else "removed", old_span=None if in_new else span, new_span=span if in_new else None))
                self.hash(name, in_old, in_new)
                continue
            # The bundle is the resolved deployment (enabled items, wording,
            # weights, conditions, the transitive order, conflicts, assumptions,
            # schema): the same hash means no behaviour can differ.
            if self.hash(name, True, True):
                self.deployment(name)
            # The deployment's bundle line closes its block of changes.
            self.result.changes.extend(self.bundle_changes)
            self.bundle_changes.clear()

    # ------------------------------------------------------------ one deployment
    def deployment(self, name: str) -> None:
        old_d, new_d = resolve_deployment(self.old, name), resolve_deployment(self.new, name)
        old_s, new_s = Semantics(old_d, self.encoder("old")), Semantics(new_d, self.encoder("new"))
        old_a = self.solver.all_of(*[old_s.encode(a) for a in old_d.assumptions])
        new_a = self.solver.all_of(*[new_s.encode(a) for a in new_d.assumptions])
        if not old_a.eq(new_a):
            self.compare_sets(name, "deployment", name, "assumptions", old_a, new_a, z3.BoolVal(True), None, None)
        self.region = self.solver.all_of(old_a, new_a)
        self.items(name, old_s, new_s)
        self.verdicts(name, old_s, new_s)
        self.preferences(name, old_s, new_s)
        self.authority(name, old_d, new_d)

    def authority(self, name: str, old_d, new_d) -> None:
        """Actions whose verdict users can change in one version and not the other (kind `authority`, with the pair)."""
        for action in sorted(set(old_d.actions) & set(new_d.actions)):
            old_pair, new_pair = user_change_pair(old_d, action), user_change_pair(new_d, action)
            if (old_pair is None) == (new_pair is None):
                continue
            pair = new_pair or old_pair
            change = "users can now change the verdict" if new_pair is not None else "users can no longer change the verdict"
            rules = (new_d if new_pair is not None else old_d).rules
            span = _rule_span([r for r in rules if r.action == action])
            self.add(
                Change(
                    "authority", name, action, change, "user" if old_pair else "not user", "user" if new_pair else "not user", pair[0],
                    old_span=span if old_pair else None, new_span=span if new_pair else None, witness_other=pair[1],
                )
            )

    def compare_sets(self, deployment, kind, item, what, old_f, new_f, region, old_span, new_span) -> bool:
        """Report where `new_f` holds and `old_f` does not (broader) or the reverse (narrower)."""
        gained = self.solver.find(region, new_f, z3.Not(old_f))
        lost = self.solver.find(region, old_f, z3.Not(new_f))
        if gained is None and lost is None:
            return False
        change = "broader" if lost is None else "narrower" if gained is None else "changed"
        label = f"{what} {change}" if what else change
        self.add(Change(kind, deployment, item, label, witness=gained or lost, old_span=old_span, new_span=new_span))
        return True

    def items(self, name: str, old_s: Semantics, new_s: Semantics) -> None:
        for item in old_s.items:
            if item not in new_s.items:
                kind = "principle" if isinstance(old_s.items[item], PrincipleDef) else "rule"
                self.add(Change(kind, name, item, "removed", old_span=old_s.items[item].node.name.span))
        for item, new_item in new_s.items.items():
            kind = "principle" if isinstance(new_item, PrincipleDef) else "rule"
            old_item = old_s.items.get(item)
            if old_item is None:
                self.add(Change(kind, name, item, "added", new_span=new_item.node.name.span))
                continue
            spans = {"old_span": old_item.node.name.span, "new_span": new_item.node.name.span}
            if isinstance(new_item, PrincipleDef) and isinstance(old_item, PrincipleDef):
                changed = [f for f in _WORDING if _text(getattr(old_item.node, f)) != _text(getattr(new_item.node, f))]
                if _examples(old_item) != _examples(new_item):
                    changed.append("examples")
                if changed:
                    self.add(Change("principle", name, item, "wording changed: " + ", ".join(changed), **spans))
                old_w, new_w = old_s.deployment.weights[item], new_s.deployment.weights[item]
                if old_w != new_w:
                    where = {"old_span": _weight_span(self.old, name, old_item), "new_span": _weight_span(self.new, name, new_item)}
                    self.add(Change("principle", name, item, "weight changed", old_w, new_w, **where))
            elif type(old_item) is not type(new_item):
                self.add(Change(kind, name, item, f"now a {kind}", **spans))
                continue
            else:
                if _text(old_item.node.detect) != _text(new_item.node.detect):
                    self.add(Change("rule", name, item, "detect changed", _text(old_item.node.detect), _text(new_item.node.detect), **spans))
                if old_item.node.hard != new_item.node.hard:
                    self.add(Change("rule", name, item, "now hard" if new_item.node.hard else "no longer hard", old_item.node.hard, new_item.node.hard, **spans))
                if (old_item.node.verdict, old_item.action) != (new_item.node.verdict, new_item.action):
                    self.add(Change("rule", name, item, "verdict changed", f"{old_item.node.verdict} {old_item.action}", f"{new_item.node.verdict} {new_item.action}", **spans))
            if self.text(item_condition(old_item), "old") == self.text(item_condition(new_item), "new"):
                continue
            old_f, new_f = old_s.applies(item), new_s.applies(item)
            if not old_f.eq(new_f):
                cond_spans = {"old_span": _cond_span(old_item), "new_span": _cond_span(new_item)}
                self.compare_sets(name, "applies", item, "", old_f, new_f, self.region, **cond_spans)

    def verdicts(self, name: str, old_s: Semantics, new_s: Semantics) -> None:
        for action in sorted(set(old_s.rules_on) | set(new_s.rules_on)):
            if self.rules_signature(old_s, action, "old") == self.rules_signature(new_s, action, "new"):
                continue
            old_v, new_v = old_s.verdicts(action), new_s.verdicts(action)
            old_p, new_p = z3.Not(old_v["never"]), z3.Not(new_v["never"])
            for what, old_f, new_f in (("permission", old_p, new_p), ("obligation", old_v["always"], new_v["always"])):
                if old_f.eq(new_f):
                    continue
                looser = self.solver.find(self.region, new_f, z3.Not(old_f))
                stricter = self.solver.find(self.region, old_f, z3.Not(new_f))
                if looser is None and stricter is None:
                    continue
                if what == "permission":
                    label = "looser" if stricter is None else "stricter" if looser is None else "incomparable"
                else:
                    label = "obligation broader" if stricter is None else "obligation narrower" if looser is None else "obligation changed"
                witness = looser or stricter
                old_at, old_rules = old_s.verdict_at(action, self.joint.project(witness, "old"))
                new_at, new_rules = new_s.verdict_at(action, self.joint.project(witness, "new"))
                self.add(
                    Change(
                        "verdict", name, action, label, old_at, new_at, witness,
                        old_span=_rule_span(old_rules or old_s.rules_on.get(action, [])),
                        new_span=_rule_span(new_rules or new_s.rules_on.get(action, [])),
                    )
                )

    def preferences(self, name: str, old_s: Semantics, new_s: Semantics) -> None:
        common = set(old_s.items) & set(new_s.items)
        pairs: set[tuple[str, str]] = set()
        for semantics in (old_s, new_s):
            for conflict in semantics.deployment.conflicts:
                if conflict.left in common and conflict.right in common:
                    pairs.add(tuple(sorted((conflict.left, conflict.right))))
        for item in common:
            moved = (old_s.graph.below(item) ^ new_s.graph.below(item)) & common
            pairs |= {tuple(sorted((item, other))) for other in moved}
        for x, y in sorted(pairs):
            if self.pair_signature(old_s, x, y, "old") == self.pair_signature(new_s, x, y, "new"):
                continue
            old_w, new_w = old_s.winners(x, y), new_s.winners(x, y)
            if old_w[x].eq(new_w[x]) and old_w[y].eq(new_w[y]) and old_w["ambiguous"].eq(new_w["ambiguous"]):
                continue
            differs = z3.Or(*[z3.Xor(old_w[k], new_w[k]) for k in (x, y, "ambiguous")])
            witness = self.solver.find(self.region, differs)
            if witness is None:
                continue
            old_at, old_clauses = old_s.winner_at(x, y, self.joint.project(witness, "old"))
            new_at, new_clauses = new_s.winner_at(x, y, self.joint.project(witness, "new"))
            self.add(
                Change(
                    "preference", name, f"{x} vs {y}", "winner changed", None if old_at == "none" else old_at, None if new_at == "none" else new_at, witness,
                    old_span=old_clauses[0].node.span if old_clauses else _order_span(old_s, x, y),
                    new_span=new_clauses[0].node.span if new_clauses else _order_span(new_s, x, y),
                )
            )

    # Cheap structural signatures: what a formula is built from, as text. Equal
    # signatures mean equal formulas, so no z3 term needs building at all.
    def text(self, cond, version: str) -> str:
        return "true" if cond is None else print_condition(self.joint.translate(cond, version))

    def rules_signature(self, semantics: Semantics, action: str, version: str) -> tuple:
        rules = sorted(semantics.rules_on.get(action, []), key=lambda r: r.id)
        order = tuple(semantics.graph.outranks(a.id, b.id) for a in rules for b in rules)
        return tuple((r.id, r.node.verdict, self.text(r.node.effective_condition, version)) for r in rules), order

    def pair_signature(self, semantics: Semantics, x: str, y: str, version: str) -> tuple:
        conflicts = sorted(
            tuple(sorted((clause.side, "otherwise" if clause.condition is None else self.text(clause.condition, version)) for clause in c.clauses))
            for c in semantics.conflicts_between(x, y)
        )
        return tuple(conflicts), semantics.graph.outranks(x, y), semantics.graph.outranks(y, x)

    def hash(self, name: str, in_old: bool, in_new: bool) -> bool:
        """Record both hashes; report and return True when they differ."""
        from cai_lang.api import bundle_of

        old_hash = bundle_of(self.old, name).content_hash if in_old else None
        new_hash = bundle_of(self.new, name).content_hash if in_new else None
        self.result.hashes[name] = {"old": old_hash, "new": new_hash}
        if in_old and in_new and old_hash != new_hash:
            self.bundle_changes.append(Change("bundle", name, name, "content_hash changed", old_hash, new_hash))
        return old_hash != new_hash


def _meaning_changes(old: Constitution, new: Constitution) -> list[tuple]:
    """Variables in both versions whose `by` or description changed (language 1.2)."""
    found = []
    for name in old.context.keys() & new.context.keys():
        before, after = old.context[name], new.context[name]
        if before.set_by != after.set_by:
            found.append((name, "by changed", before.set_by, after.set_by))
        if before.description != after.description:
            found.append((name, "description changed", before.description, after.description))
    return sorted(found)


def _text(node) -> str | None:
    return node.value if node is not None else None


def _examples(principle: PrincipleDef) -> list:
    return [tuple(_text(getattr(e, f)) for f in ("prompt", "response", "critique", "revision")) for e in principle.node.examples]


def _cond_span(item) -> Span:
    cond = item_condition(item)
    if cond is None:
        return item.node.name.span
    return item.node.verdict_span if getattr(item.node, "verdict_span", None) is not None else cond.span


def _rule_span(rules) -> Span | None:
    return (rules[0].node.verdict_span or rules[0].node.name.span) if rules else None


def _order_span(semantics: Semantics, x: str, y: str) -> Span | None:
    for higher, lower in ((x, y), (y, x)):
        path = semantics.graph.path(higher, lower)
        if path:
            edge = next(e for e in semantics.graph.edges if e.higher == path[0] and e.lower == path[1])
            return edge.priority.node.span
    return None


def _weight_span(constitution: Constitution, deployment: str, item: PrincipleDef) -> Span:
    """Where the effective weight is set: the last `weight` override in the deployment's chain,
    else the principle's own `weight` field, else (the default weight) its name."""
    for link in reversed(constitution.chain(deployment)):
        if item.id in link.weight_spans:
            return link.weight_spans[item.id]
    if item.node.weight is not None:
        return item.node.weight.span
    return item.node.name.span


def _var_span(constitution: Constitution, name: str) -> Span | None:
    var = constitution.context.get(name)
    return var.span if var is not None else None
