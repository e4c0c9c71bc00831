"""Lowering to the frozen IR of `cai_lang.ir.nodes`, inside the LALR parser.

One explicit method per grammar rule builds one pydantic node with its span
(Lark's automatic AST classes call constructors positionally, which pydantic
models refuse). The parser runs these methods as it reduces (an embedded
transformer), so no intermediate parse tree is built; spans come from the
first and last token or node of each rule (the grammar keeps all tokens), so
no line index lookups are needed either. Placement and repetition rules the
grammar leaves open are enforced here, where the message can name the field:
a repeated field keeps its first value and reports E107; a misplaced
`import` or `constitution` header reports E001; a condition nested deeper
than `MAX_DEPTH` is E001 and replaced, so later passes never recurse deeply.
"""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.span import SourceFile, Span
from cai_lang.syntax.strings import decode_literal

MAX_DEPTH = 100  # nesting of conditions; deeper input is refused, not recursed into


class _Field:
    """A lowered field before it is placed into its owner: keyword, value, span."""

    __slots__ = ("key", "value", "span")

    def __init__(self, key: str, value: Any, span: Span):
        self.key, self.value, self.span = key, value, span


class Lowerer(Transformer):
    """Builds IR while the parser reduces; `reset` points it at the next file."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.reset(SourceFile("", ""))

    def reset(self, source: SourceFile) -> None:
        self.source = source
        self.file = source.display
        self.diagnostics: list[Diagnostic] = []
        self.depth: dict[int, int] = {}  # id(condition node) -> nesting depth
        self._replaced: list[ir.Node] = []  # kept alive so their ids are not reused

    # ------------------------------------------------------------ spans
    def _tspan(self, token: Token) -> Span:
        return Span(
            file=self.file,
            line=token.line,
            column=token.column,
            end_line=token.end_line,
            end_column=token.end_column,
            start=token.start_pos,
            end=token.end_pos,
        )

    def _span(self, children: list) -> Span:
        first, last = _edge(children[0], True), _edge(children[-1], False)
        return Span(
            file=self.file,
            line=first[1],
            column=first[2],
            end_line=last[1],
            end_column=last[2],
            start=first[0],
            end=last[0],
        )

    def _name(self, token: Token) -> ir.Name:
        return ir.Name(span=self._tspan(token), value=str(token))

    def _names(self, children: list) -> list[ir.Name]:
        return [self._name(c) for c in children if isinstance(c, Token) and c.type == "NAME"]

    def _text(self, token: Token, *, regex: bool = False) -> ir.Text:
        value, errors = decode_literal(str(token), raw=regex)
        for error in errors:
            self.diagnostics.append(
                msg.BAD_ESCAPE.at(self.source.span(token.start_pos + error.start, token.start_pos + error.end), detail=error.message)
            )
        return ir.Text(span=self._tspan(token), value=value)

    def _fields(self, owner: str, items: list, allowed_many: tuple[str, ...] = ()) -> dict[str, Any]:
        """Collect fields by key, reporting repeats (E107) and keeping the first."""
        found: dict[str, Any] = {}
        for item in items:
            if not isinstance(item, _Field):
                continue
            if item.key in allowed_many:
                found.setdefault(item.key, []).append(item.value)
            elif item.key in found:
                self.diagnostics.append(msg.REPEATED_FIELD.at(item.span, field=item.key, owner=owner))
            else:
                found[item.key] = item.value
        return found

    def _field(self, key: str, children: list, value: Any) -> _Field:
        return _Field(key, value, self._span(children))

    def _only_string(self, children: list) -> Token:
        return next(c for c in children if isinstance(c, Token) and c.type in ("STRING", "LONG_STRING"))

    # ------------------------------------------------------------ header and imports
    def string(self, children):
        return children[0]

    def version_field(self, c):
        return self._field("version", c, self._text(self._only_string(c)))

    def description_field(self, c):
        return self._field("description", c, self._text(self._only_string(c)))

    def constitution_decl(self, c):
        (name,) = self._names(c[:2])
        fields = self._fields("the constitution header", c)
        return ir.Header(span=self._span(c), name=name, version=fields.get("version"), description=fields.get("description"))

    def std_target(self, c):
        return (".".join(n.value for n in self._names(c)), self._span(c), False)

    def path_target(self, c):
        text = self._text(c[0])
        return (text.value, text.span, True)

    def import_alias(self, c):
        return self._name(c[1])

    def import_decl(self, c):
        target, target_span, is_path = c[1]
        alias = c[2] if len(c) > 2 else None
        return ir.Import(span=self._span(c), target=target, target_span=target_span, is_path=is_path, alias=alias)

    # ------------------------------------------------------------ context and actions
    def bool_type(self, c):
        return ir.BoolType(span=self._span(c))

    def enum_type(self, c):
        values = self._names(c)
        seen: set[str] = set()
        for value in values:
            if value.value in seen:
                self.diagnostics.append(msg.DUPLICATE_ENUM_VALUE.at(value.span, value=value.value))
            seen.add(value.value)
        return ir.EnumType(span=self._span(c), values=tuple(values))

    def context_var(self, c):
        return ir.ContextVar(span=self._span(c), name=self._name(c[0]), type=c[2])

    def context_decl(self, c):
        return ir.ContextBlock(span=self._span(c), variables=tuple(v for v in c if isinstance(v, ir.ContextVar)))

    def action_decl(self, c):
        text = self._text(c[2]) if len(c) > 2 else None
        return ir.Action(span=self._span(c), name=self._name(c[1]), text=text)

    # ------------------------------------------------------------ principles
    def critique_field(self, c):
        return self._field("critique", c, self._text(self._only_string(c)))

    def revision_field(self, c):
        return self._field("revision", c, self._text(self._only_string(c)))

    def compare_field(self, c):
        return self._field("compare", c, self._text(self._only_string(c)))

    def prompt_field(self, c):
        return self._field("prompt", c, self._text(self._only_string(c)))

    def response_field(self, c):
        return self._field("response", c, self._text(self._only_string(c)))

    def weight_field(self, c):
        return self._field("weight", c, _number(c[1], self._tspan(c[1])))

    def tags_field(self, c):
        return self._field("tags", c, tuple(self._names(c)))

    def applies_field(self, c):
        return self._field("applies", c, c[2])

    def example_block(self, c):
        fields = self._fields("an example", c)
        span = self._span(c)
        for required in ("prompt", "response"):
            if required not in fields:
                self.diagnostics.append(msg.EXAMPLE_MISSING.at(span, field=required))
        return _Field("example", ir.Example(span=span, **fields), span)

    def principle_decl(self, c):
        name = self._name(c[1])
        fields = self._fields(f"principle `{name.value}`", c, allowed_many=("example",))
        examples = tuple(fields.pop("example", ()))
        return ir.Principle(span=self._span(c), name=name, examples=examples, **fields)

    # ------------------------------------------------------------ rules
    def guard(self, c):
        return _Field("guard", (str(c[0]), c[1]), self._span(c))

    def verdict(self, c):
        guard = c[2].value if len(c) > 2 else (None, None)
        return _Field("verdict", (str(c[0]), c[1], guard[0], guard[1]), self._span(c))

    def detect_field(self, c):
        return self._field("detect", c, self._text(self._only_string(c), regex=True))

    def rule_decl(self, c):
        name = self._name(c[1])
        owner = f"rule `{name.value}`"
        verdicts = [f for f in c if isinstance(f, _Field) and f.key == "verdict"]
        for extra in verdicts[1:]:
            self.diagnostics.append(msg.REPEATED_FIELD.at(extra.span, field=extra.value[0], owner=owner))
        if not verdicts:
            self.diagnostics.append(msg.RULE_VERDICT.at(name.span, name=name.value))
        fields = self._fields(owner, [f for f in c if not (isinstance(f, _Field) and f.key == "verdict")])
        kwargs: dict[str, Any] = {}
        if verdicts:
            keyword, action, guard, condition = verdicts[0].value
            kwargs = {"verdict": keyword, "verdict_span": verdicts[0].span, "action": action, "guard": guard, "condition": condition}
        return ir.Rule(span=self._span(c), name=name, detect=fields.get("detect"), **kwargs)

    # ------------------------------------------------------------ ordering
    def ref(self, c):
        names = self._names(c)
        if len(names) == 2:
            return ir.Ref(span=self._span(c), module=names[0].value, name=names[1].value)
        return ir.Ref(span=self._span(c), name=names[0].value)

    def priority_decl(self, c):
        return ir.Priority(span=self._span(c), members=tuple(m for m in c if isinstance(m, ir.Ref)))

    def prefer_when(self, c):
        return ir.PreferClause(span=self._span(c), side=c[1], condition=c[3])

    def prefer_otherwise(self, c):
        return ir.PreferClause(span=self._span(c), side=c[1], condition=None)

    def conflict_decl(self, c):
        return ir.Conflict(span=self._span(c), left=c[1], right=c[3], clauses=tuple(x for x in c if isinstance(x, ir.PreferClause)))

    # ------------------------------------------------------------ deployments
    def extends_clause(self, c):
        return _Field("extends", self._name(c[1]), self._span(c))

    def assume_item(self, c):
        return ir.Assume(span=self._span(c), condition=c[1])

    def weight_item(self, c):
        return ir.WeightOverride(span=self._span(c), target=c[1], weight=_number(c[2], self._tspan(c[2])))

    def disable_item(self, c):
        return ir.Disable(span=self._span(c), target=c[1])

    def enable_item(self, c):
        return ir.Enable(span=self._span(c), target=c[1])

    def deployment_decl(self, c):
        extends = next((f.value for f in c if isinstance(f, _Field)), None)
        items = tuple(x for x in c if isinstance(x, ir.Node))
        return ir.Deployment(span=self._span(c), name=self._name(c[1]), extends=extends, items=items)

    # ------------------------------------------------------------ tests (version 1.1)
    def test_deployment(self, c):
        return self._field("deployment", c, self._name(c[1]))

    def given_field(self, c):
        return self._field("given", c, c[1])

    def _expect(self, c, kind: str, negated: bool = False):
        refs = [x for x in c if isinstance(x, ir.Ref)]
        strings = [x for x in c if isinstance(x, Token) and x.type in ("STRING", "LONG_STRING")]
        text = self._text(strings[0]) if strings else None
        other = refs[1] if len(refs) > 1 else None
        node = ir.Expectation(span=self._span(c), kind=kind, negated=negated, target=refs[0], other=other, text=text)
        return _Field("expect", node, node.span)

    def expect_never(self, c):
        return self._expect(c, "never")

    def expect_always(self, c):
        return self._expect(c, "always")

    def expect_allowed(self, c):
        return self._expect(c, "allowed")

    def expect_applies(self, c):
        return self._expect(c, "applies")

    def expect_not_applies(self, c):
        return self._expect(c, "applies", negated=True)

    def expect_over(self, c):
        return self._expect(c, "over")

    def expect_detect(self, c):
        return self._expect(c, "detect")

    def expect_not_detect(self, c):
        return self._expect(c, "detect", negated=True)

    def test_decl(self, c):
        name = self._name(c[1])
        fields = self._fields(f"test `{name.value}`", c, allowed_many=("expect",))
        expects = tuple(fields.pop("expect", ()))
        if not expects:
            self.diagnostics.append(msg.TEST_NO_EXPECT.at(name.span, name=name.value))
        return ir.Test(span=self._span(c), name=name, deployment=fields.get("deployment"), given=fields.get("given"), expects=expects)

    # ------------------------------------------------------------ conditions
    def _nested(self, node: ir.Node, operands) -> ir.Node:
        depth = 1 + max((self.depth.get(id(o), 0) for o in operands), default=0)
        if depth > MAX_DEPTH:
            last = self.diagnostics[-1] if self.diagnostics else None
            inner_reported = last is not None and last.code == "E001" and node.span.start <= last.span.start and last.span.end <= node.span.end
            if not inner_reported:
                self.diagnostics.append(msg.TOO_DEEP.at(node.span, limit=MAX_DEPTH))
            # Replace the over-deep part so no later pass has to recurse into it.
            self._replaced.append(node)
            node = ir.BoolConst(span=node.span, value=True)
            depth = 0
        self.depth[id(node)] = depth
        return node

    def true_cond(self, c):
        return ir.BoolConst(span=self._span(c), value=True)

    def false_cond(self, c):
        return ir.BoolConst(span=self._span(c), value=False)

    def var_cond(self, c):
        return ir.VarCond(span=self._span(c), var=self._name(c[0]))

    def value(self, c):
        return self._name(c[0])

    def compare_op(self, c):
        return str(c[0])

    def compare_cond(self, c):
        return ir.CompareCond(span=self._span(c), var=self._name(c[0]), op=c[1], value=c[2])

    def in_cond(self, c):
        values = tuple(v for v in c if isinstance(v, ir.Name))
        return ir.InCond(span=self._span(c), var=self._name(c[0]), values=values)

    def not_cond(self, c):
        return self._nested(ir.NotCond(span=self._span(c), operand=c[1]), [c[1]])

    def and_cond(self, c):
        operands = tuple(x for x in c if not isinstance(x, Token))
        return self._nested(ir.AndCond(span=self._span(c), operands=operands), operands)

    def or_cond(self, c):
        operands = tuple(x for x in c if not isinstance(x, Token))
        return self._nested(ir.OrCond(span=self._span(c), operands=operands), operands)

    def atom(self, c):
        # `( condition )`: the parentheses only group; the condition keeps its own span.
        return self._nested(c[1], [c[1]]) if len(c) == 3 else c[0]

    def start(self, c):
        return c


def _edge(item, first: bool) -> tuple[int, int, int]:
    """(offset, line, column) where a child starts (first=True) or ends."""
    if isinstance(item, Token):
        if first:
            return item.start_pos, item.line, item.column
        return item.end_pos, item.end_line, item.end_column
    span = item.span if hasattr(item, "span") else item[1]  # nodes, _Fields, targets
    if first:
        return span.start, span.line, span.column
    return span.end, span.end_line, span.end_column


def _number(token: Token, span: Span) -> ir.Number:
    return ir.Number(span=span, value=float(token), text=str(token))
