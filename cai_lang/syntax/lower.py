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

import difflib
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

    def phase_field(self, c):
        word, name = self._name(c[0]), self._name(c[1])
        if word.value != "phase":
            self._unknown_word(word, "the constitution header", ("version", "description", "phase"))
            return None
        if name.value not in ("sl", "rl"):
            self.diagnostics.append(msg.INVALID_FIELD.at(name.span, problem=f"`phase` is `sl` or `rl`, not `{name.value}`"))
        return self._field("phase", c, name)

    def _unknown_word(self, word: ir.Name, owner: str, allowed: tuple[str, ...]) -> None:
        close = difflib.get_close_matches(word.value, allowed, n=1)
        self.diagnostics.append(
            msg.INVALID_FIELD.at(
                word.span,
                problem=f"`{word.value}` is not a field of {owner}",
                help=(f"did you mean `{close[0]}`? " if close else "") + "it takes " + ", ".join(f"`{a}`" for a in allowed),
            )
        )

    def constitution_decl(self, c):
        (name,) = self._names(c[:2])
        fields = self._fields("the constitution header", c)
        return ir.Header(span=self._span(c), name=name, version=fields.get("version"), description=fields.get("description"), phase=fields.get("phase"))

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

    def context_description(self, c):
        return self._field("description", c, self._text(self._only_string(c)))

    def context_by(self, c):
        word, who = self._name(c[0]), self._name(c[1])
        if word.value != "by" or who.value not in ("user", "operator"):
            found = word if word.value != "by" else who
            self.diagnostics.append(
                msg.UNEXPECTED_TOKEN.at(found.span, expected="a context variable (`name: type`), its description, or `by user` / `by operator`", found=f"`{found.value}`")
            )
            return None
        return self._field("by", c, who)

    def context_decl(self, c):
        """Group the flat items into variables: each description or `by` belongs to the variable before it."""
        variables: list[ir.ContextVar] = []
        for item in c:
            if isinstance(item, ir.ContextVar):
                variables.append(item)
            elif isinstance(item, _Field):
                self._attach(variables, item)
        return ir.ContextBlock(span=self._span(c), variables=tuple(variables))

    def _attach(self, variables: list[ir.ContextVar], item: _Field) -> None:
        last = variables[-1] if variables else None
        if last is None:
            what = "a description" if item.key == "description" else f"`by {item.value.value}`"
            self.diagnostics.append(msg.UNEXPECTED_TOKEN.at(item.span, expected="a context variable (`name: type`) first", found=what))
        elif getattr(last, item.key) is not None:
            self.diagnostics.append(msg.REPEATED_FIELD.at(item.span, field=item.key if item.key == "by" else "description", owner=f"context variable `{last.name.value}`"))
        elif item.key == "description" and last.by is not None:
            self.diagnostics.append(msg.UNEXPECTED_TOKEN.at(item.span, expected="the description before `by`", found="a description"))
        else:
            span = last.span.model_copy(update={"end_line": item.span.end_line, "end_column": item.span.end_column, "end": item.span.end})
            variables[-1] = last.model_copy(update={item.key: item.value, "span": span})

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
        c = self._words(c, "an example", ("user", "assistant"))
        fields = self._fields("an example", c, allowed_many=("turn",))
        span = self._span(c)
        turns = tuple(fields.pop("turn", ()))
        self._check_conversation(fields.get("prompt"), turns, span, "an example")
        if "response" not in fields:
            self.diagnostics.append(msg.EXAMPLE_MISSING.at(span, field="response"))
        return _Field("example", ir.Example(span=span, turns=turns, **fields), span)

    def principle_decl(self, c):
        name = self._name(c[1])
        fields = self._fields(f"principle `{name.value}`", c, allowed_many=("example", "comparison"))
        examples = tuple(fields.pop("example", ()))
        comparisons = tuple(fields.pop("comparison", ()))
        return ir.Principle(span=self._span(c), name=name, examples=examples, comparisons=comparisons, **fields)

    # ------------------------------------------------------------ conversations and comparisons
    def turn_field(self, c):
        return self._field("word", c, (self._name(c[0]), self._text(self._only_string(c))))

    def _words(self, children: list, owner: str, allowed: tuple[str, ...]) -> list:
        """Resolve the contextual words (`user`, `assistant`, `reasoning`) of a block's fields."""
        if "reasoning" in allowed:
            fields = ("prompt", *allowed, "response", "compare", "prefer")
        else:
            fields = ("prompt", *allowed, "response", "critique", "revision", "critique request", "revision request")
        resolved = []
        for item in children:
            if isinstance(item, _Field) and item.key == "word":
                word, text = item.value
                if word.value not in allowed:
                    self._unknown_word(word, owner, fields)
                    continue
                if word.value == "reasoning":
                    item = _Field("reasoning", text, item.span)
                else:
                    item = _Field("turn", ir.Turn(span=item.span, role=word.value, text=text), item.span)
            resolved.append(item)
        return resolved

    def _request(self, key: str, c) -> _Field | None:
        word = self._name(c[1])
        if word.value != "request":
            self._unknown_word(word, f"`{key} ...` in an example", ("request",))
            return None
        return self._field(f"{key}_request", c, self._text(self._only_string(c)))

    def critique_request_field(self, c):
        return self._request("critique", c)

    def revision_request_field(self, c):
        return self._request("revision", c)

    def comparison_question(self, c):
        return self._field("compare", c, self._text(self._only_string(c)))

    def comparison_prefer(self, c):
        name = self._name(c[1])
        if name.value.upper() not in ("A", "B"):
            self.diagnostics.append(msg.INVALID_FIELD.at(name.span, problem=f"`prefer` in a comparison names response `A` or `B`, not `{name.value}`"))
        return self._field("prefer", c, name.model_copy(update={"value": name.value.upper()}))

    def comparison_block(self, c):
        c = self._words(c, "a comparison", ("user", "assistant", "reasoning"))
        fields = self._fields("a comparison", c, allowed_many=("turn", "response"))
        span = self._span(c)
        turns = tuple(fields.pop("turn", ()))
        responses = tuple(fields.pop("response", ()))
        self._check_conversation(fields.get("prompt"), turns, span, "a comparison")
        if len(responses) != 2:
            self.diagnostics.append(
                msg.INVALID_FIELD.at(span, problem=f"a comparison needs exactly two `response` fields, (A) then (B); it has {len(responses)}")
            )
        if "prefer" not in fields:
            self.diagnostics.append(msg.EXAMPLE_MISSING.at(span, field="prefer A` or `prefer B"))
        return _Field("comparison", ir.Comparison(span=span, turns=turns, responses=responses, **fields), span)

    def _check_conversation(self, prompt: ir.Text | None, turns: tuple[ir.Turn, ...], span: Span, owner: str) -> None:
        """The turns before the response: user first, alternating, ending with the user."""
        if prompt is not None and turns and turns[0].span.start < prompt.span.start:
            self.diagnostics.append(msg.INVALID_FIELD.at(turns[0].span, problem=f"`prompt` opens the conversation of {owner}; put it before the turns"))
            return
        roles = (["user"] if prompt is not None else []) + [t.role for t in turns]
        if not roles:
            self.diagnostics.append(msg.EXAMPLE_MISSING.at(span, field="prompt"))
            return
        for index, role in enumerate(roles):
            expected = "user" if index % 2 == 0 else "assistant"
            if role != expected:
                where = turns[index - (len(roles) - len(turns))].span
                self.diagnostics.append(
                    msg.INVALID_FIELD.at(where, problem=f"the turns of {owner} alternate, starting with the user: turn {index + 1} should be `{expected}`")
                )
                return
        if roles[-1] != "user":
            self.diagnostics.append(
                msg.INVALID_FIELD.at(turns[-1].span, problem=f"the conversation of {owner} ends with the user: the assistant's reply under review is its `response`")
            )

    # ------------------------------------------------------------ rules
    def guard(self, c):
        return _Field("guard", (str(c[0]), c[1]), self._span(c))

    def verdict(self, c):
        guard = c[2].value if len(c) > 2 else (None, None)
        return _Field("verdict", (str(c[0]), c[1], guard[0], guard[1]), self._span(c))

    def detect_field(self, c):
        return self._field("detect", c, self._text(self._only_string(c), regex=True))

    def rule_mark(self, c):
        word = self._name(c[0])
        if word.value != "hard":
            self.diagnostics.append(msg.UNEXPECTED_TOKEN.at(word.span, expected="a declaration (or `hard rule`)", found=f"`{word.value}`"))
        return _Field("hard", word.value == "hard", self._span(c))

    def rule_decl(self, c):
        whole = self._span(c)
        hard = isinstance(c[0], _Field) and c[0].key == "hard"
        if hard:
            hard, c = bool(c[0].value), c[1:]
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
        return ir.Rule(span=whole, name=name, hard=hard, detect=fields.get("detect"), **kwargs)

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

    def expect_users(self, c):
        words = [str(w) for w in c[1:4]]
        if words[0] != "users" or words[1] not in ("can", "cannot") or words[2] != "change":
            bad = next(w for w, want in zip(c[1:4], ("users", ("can", "cannot"), "change")) if str(w) not in (want if isinstance(want, tuple) else (want,)))
            self.diagnostics.append(
                msg.UNEXPECTED_TOKEN.at(self._tspan(bad), expected="`users can change ACTION` or `users cannot change ACTION`", found=f"`{bad}`")
            )
        return self._expect(c, "users", negated=words[1] == "cannot")

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
        # A top-level `example` or `comparison` is a shared few-shot declaration.
        return [item.value if isinstance(item, _Field) else item for item in c]


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
