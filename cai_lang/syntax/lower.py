"""Lowering Lark parse trees to the frozen IR of `cai_lang.ir.nodes`.

One explicit method per grammar rule builds one pydantic node with its span
(Lark's automatic AST classes call constructors positionally, which pydantic
models refuse). Placement and repetition rules that the grammar leaves open
are enforced here, where the message can name the field: a repeated field
keeps its first value and reports E107; a misplaced `import` or
`constitution` header reports E001. `parse_module` is the entry point:
source text in, `Module` and diagnostics out.
"""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer, v_args

from cai_lang.diagnostics import messages as msg
from cai_lang.diagnostics.model import Diagnostic
from cai_lang.ir import nodes as ir
from cai_lang.span import SourceFile, Span
from cai_lang.syntax.errors import syntax_diagnostic
from cai_lang.syntax.parser import parse_text, scan_comments
from cai_lang.syntax.strings import decode_literal


class _Field:
    """A lowered field before it is placed into its owner: keyword, value, span."""

    __slots__ = ("key", "value", "span")

    def __init__(self, key: str, value: Any, span: Span):
        self.key, self.value, self.span = key, value, span


class _RawString:
    __slots__ = ("token",)

    def __init__(self, token: Token):
        self.token = token


@v_args(meta=True)
class _Lowerer(Transformer):
    def __init__(self, source: SourceFile):
        super().__init__(visit_tokens=True)
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    # ------------------------------------------------------------ helpers
    def _span(self, meta) -> Span:
        return self.source.span(meta.start_pos, meta.end_pos)

    def _tspan(self, token: Token) -> Span:
        return self.source.span(token.start_pos, token.end_pos)

    def _text(self, raw: _RawString, *, regex: bool = False) -> ir.Text:
        token = raw.token
        value, errors = decode_literal(str(token), raw=regex)
        for error in errors:
            start = token.start_pos + error.start
            self.diagnostics.append(msg.BAD_ESCAPE.at(self.source.span(start, token.start_pos + error.end), detail=error.message))
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

    # ------------------------------------------------------------ tokens
    def NAME(self, token: Token) -> ir.Name:
        return ir.Name(span=self._tspan(token), value=str(token))

    def STRING(self, token: Token) -> _RawString:
        return _RawString(token)

    LONG_STRING = STRING

    def NUMBER(self, token: Token) -> ir.Number:
        return ir.Number(span=self._tspan(token), value=float(token), text=str(token))

    def string(self, meta, children):
        return children[0]

    # ------------------------------------------------------------ header and imports
    def version_field(self, meta, children):
        return _Field("version", self._text(children[0]), self._span(meta))

    def description_field(self, meta, children):
        return _Field("description", self._text(children[0]), self._span(meta))

    def constitution_decl(self, meta, children):
        name, *rest = children
        fields = self._fields("the constitution header", rest)
        return ir.Header(span=self._span(meta), name=name, version=fields.get("version"), description=fields.get("description"))

    def std_target(self, meta, children):
        return (".".join(n.value for n in children), self._span(meta), False)

    def path_target(self, meta, children):
        text = self._text(children[0])
        return (text.value, text.span, True)

    def import_alias(self, meta, children):
        return children[0]

    def import_decl(self, meta, children):
        target, target_span, is_path = children[0]
        alias = children[1] if len(children) > 1 else None
        return ir.Import(span=self._span(meta), target=target, target_span=target_span, is_path=is_path, alias=alias)

    # ------------------------------------------------------------ context and actions
    def bool_type(self, meta, children):
        return ir.BoolType(span=self._span(meta))

    def enum_type(self, meta, children):
        seen: set[str] = set()
        for value in children:
            if value.value in seen:
                self.diagnostics.append(msg.DUPLICATE_ENUM_VALUE.at(value.span, value=value.value))
            seen.add(value.value)
        return ir.EnumType(span=self._span(meta), values=tuple(children))

    def context_var(self, meta, children):
        return ir.ContextVar(span=self._span(meta), name=children[0], type=children[1])

    def context_decl(self, meta, children):
        return ir.ContextBlock(span=self._span(meta), variables=tuple(children))

    def action_decl(self, meta, children):
        text = self._text(children[1]) if len(children) > 1 else None
        return ir.Action(span=self._span(meta), name=children[0], text=text)

    # ------------------------------------------------------------ principles
    def critique_field(self, meta, children):
        return _Field("critique", self._text(children[0]), self._span(meta))

    def revision_field(self, meta, children):
        return _Field("revision", self._text(children[0]), self._span(meta))

    def compare_field(self, meta, children):
        return _Field("compare", self._text(children[0]), self._span(meta))

    def prompt_field(self, meta, children):
        return _Field("prompt", self._text(children[0]), self._span(meta))

    def response_field(self, meta, children):
        return _Field("response", self._text(children[0]), self._span(meta))

    def weight_field(self, meta, children):
        return _Field("weight", children[0], self._span(meta))

    def tags_field(self, meta, children):
        return _Field("tags", tuple(children), self._span(meta))

    def applies_field(self, meta, children):
        return _Field("applies", children[0], self._span(meta))

    def example_block(self, meta, children):
        fields = self._fields("an example", children)
        span = self._span(meta)
        for required in ("prompt", "response"):
            if required not in fields:
                self.diagnostics.append(msg.EXAMPLE_MISSING.at(span, field=required))
        return _Field("example", ir.Example(span=span, **fields), span)

    def principle_decl(self, meta, children):
        name, *rest = children
        fields = self._fields(f"principle `{name.value}`", rest, allowed_many=("example",))
        examples = tuple(fields.pop("example", ()))
        return ir.Principle(span=self._span(meta), name=name, examples=examples, **fields)

    # ------------------------------------------------------------ rules
    def guard(self, meta, children):
        return (str(children[0]), children[1])

    def verdict(self, meta, children):
        keyword, action, *rest = children
        guard = rest[0] if rest else (None, None)
        return _Field("verdict", (str(keyword), action, guard[0], guard[1]), self._span(meta))

    def detect_field(self, meta, children):
        return _Field("detect", self._text(children[0], regex=True), self._span(meta))

    def rule_decl(self, meta, children):
        name, *rest = children
        owner = f"rule `{name.value}`"
        span = self._span(meta)
        verdicts = [c for c in rest if isinstance(c, _Field) and c.key == "verdict"]
        for extra in verdicts[1:]:
            self.diagnostics.append(msg.REPEATED_FIELD.at(extra.span, field=extra.value[0], owner=owner))
        if not verdicts:
            self.diagnostics.append(msg.RULE_VERDICT.at(name.span, name=name.value))
        fields = self._fields(owner, [c for c in rest if not (isinstance(c, _Field) and c.key == "verdict")])
        kwargs: dict[str, Any] = {}
        if verdicts:
            keyword, action, guard, condition = verdicts[0].value
            kwargs = {"verdict": keyword, "verdict_span": verdicts[0].span, "action": action, "guard": guard, "condition": condition}
        return ir.Rule(span=span, name=name, detect=fields.get("detect"), **kwargs)

    # ------------------------------------------------------------ ordering
    def ref(self, meta, children):
        if len(children) == 2:
            return ir.Ref(span=self._span(meta), module=children[0].value, name=children[1].value)
        return ir.Ref(span=self._span(meta), name=children[0].value)

    def priority_decl(self, meta, children):
        members = tuple(c for c in children if isinstance(c, ir.Ref))
        return ir.Priority(span=self._span(meta), members=members)

    def prefer_when(self, meta, children):
        return ir.PreferClause(span=self._span(meta), side=children[0], condition=children[1])

    def prefer_otherwise(self, meta, children):
        return ir.PreferClause(span=self._span(meta), side=children[0], condition=None)

    def conflict_decl(self, meta, children):
        left, right, *clauses = children
        return ir.Conflict(span=self._span(meta), left=left, right=right, clauses=tuple(clauses))

    # ------------------------------------------------------------ deployments
    def extends_clause(self, meta, children):
        return _Field("extends", children[0], self._span(meta))

    def assume_item(self, meta, children):
        return ir.Assume(span=self._span(meta), condition=children[0])

    def weight_item(self, meta, children):
        return ir.WeightOverride(span=self._span(meta), target=children[0], weight=children[1])

    def disable_item(self, meta, children):
        return ir.Disable(span=self._span(meta), target=children[0])

    def enable_item(self, meta, children):
        return ir.Enable(span=self._span(meta), target=children[0])

    def deployment_decl(self, meta, children):
        name, *rest = children
        extends = None
        if rest and isinstance(rest[0], _Field):
            extends = rest.pop(0).value
        return ir.Deployment(span=self._span(meta), name=name, extends=extends, items=tuple(rest))

    # ------------------------------------------------------------ conditions
    def true_cond(self, meta, children):
        return ir.BoolConst(span=self._span(meta), value=True)

    def false_cond(self, meta, children):
        return ir.BoolConst(span=self._span(meta), value=False)

    def var_cond(self, meta, children):
        return ir.VarCond(span=self._span(meta), var=children[0])

    def value(self, meta, children):
        child = children[0]
        if isinstance(child, Token):  # TRUE / FALSE keywords
            return ir.Name(span=self._tspan(child), value=str(child))
        return child

    def compare_op(self, meta, children):
        return str(children[0])

    def compare_cond(self, meta, children):
        return ir.CompareCond(span=self._span(meta), var=children[0], op=children[1], value=children[2])

    def in_cond(self, meta, children):
        var, *values = children
        return ir.InCond(span=self._span(meta), var=var, values=tuple(values))

    def not_cond(self, meta, children):
        return ir.NotCond(span=self._span(meta), operand=children[0])

    def and_cond(self, meta, children):
        return ir.AndCond(span=self._span(meta), operands=tuple(children))

    def or_cond(self, meta, children):
        return ir.OrCond(span=self._span(meta), operands=tuple(children))

    def start(self, meta, children):
        return children


def parse_module(source: SourceFile, path: str | None = None) -> tuple[ir.Module, list[Diagnostic]]:
    """Parse one file into a `Module`, with every syntax and field diagnostic found."""
    result = parse_text(source.text)
    lowerer = _Lowerer(source)
    diagnostics = [syntax_diagnostic(error, source) for error in result.errors]
    items: list = []
    for tree in result.trees:
        items.extend(lowerer.transform(tree))
    items.sort(key=lambda node: node.span.start)
    diagnostics.extend(lowerer.diagnostics)

    header = None
    imports: list[ir.Import] = []
    declarations: list = []
    for item in items:
        if isinstance(item, ir.Header):
            if header is not None:
                diagnostics.append(msg.DUPLICATE.at(item.name.span, kind="constitution header", name=item.name.value))
                continue
            if imports or declarations:
                diagnostics.append(msg.MISPLACED_HEADER.at(source.span(item.span.start, item.name.span.end)))
            header = item
        elif isinstance(item, ir.Import):
            if declarations:
                diagnostics.append(msg.MISPLACED_IMPORT.at(item.span))
            imports.append(item)
        else:
            declarations.append(item)
    comments = tuple(ir.Comment(span=source.span(s, e), text=source.text[s:e]) for s, e in scan_comments(source.text))
    module = ir.Module(
        path=str(path if path is not None else source.path),
        display=source.display,
        header=header,
        imports=tuple(imports),
        declarations=tuple(declarations),
        comments=comments,
    )
    return module, diagnostics
