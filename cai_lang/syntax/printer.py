"""The canonical printer: a parsed `Module` back to `.const` text (the formatter).

Printing happens in two steps. First every declaration, field and closing
brace becomes one `_Line` that remembers which stretch of the source it
stands for; fields keep the order the author wrote them in. Then the
module's comments are woven back in: a comment alone on its line leads the
next line printed after it (or, when it sits inside a construct that prints
as one line, that line); a comment after code stays at the end of the line
that printed that code. Blank lines the author put between items survive
(at most one); top-level declarations are always one blank line apart,
except runs of one-line declarations of the same kind (imports, actions,
priorities). Strings take their canonical literal form (`encode_literal`),
numbers keep their text and conditions get the fewest parentheses that keep
their shape (`or` binds loosest, then `and`, then `not`). `ir_shape` gives
the IR with spans and comments stripped, which is what formatting preserves.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cai_lang.ir import nodes as ir
from cai_lang.ir.conditions import Algebra, fold
from cai_lang.span import Span
from cai_lang.syntax.strings import encode_literal

INDENT = "    "

# Code tokens of a file that parses: strings first so that `#` and braces in
# them are skipped; comments are matched so they can be told apart and dropped.
_TOKEN = re.compile(r'"""(?:.|\n)*?"""|"(?:\\.|[^"\\\n])*"|#[^\n]*|[A-Za-z_0-9.\-]+|[=!<>]=|\S')
_BLANK_LINE = re.compile(r"\n[ \t\r\f]*\n")
# Declarations that fit on one line and may sit in a block without blank lines.
_ONE_LINERS = (ir.Import, ir.Action, ir.Priority)


# ---------------------------------------------------------------- conditions


class _Source(Algebra[str]):
    """Conditions as source text, with the fewest parentheses that parse back to the same tree."""

    def const(self, node, value):
        return "true" if value else "false"

    def var(self, node, name):
        return name

    def compare(self, node, name, op, value):
        return f"{name} {op} {value}"

    def member(self, node, name, values):
        return f"{name} in {{{', '.join(values)}}}"

    def negate(self, node, operand):
        return "not " + _wrap(node.operand, operand, ("and", "or"))

    def conjoin(self, node, operands):
        # A nested `and` needs its parentheses too: flattening would change the tree.
        return " and ".join(_wrap(o, text, ("and", "or")) for o, text in zip(node.operands, operands))

    def disjoin(self, node, operands):
        return " or ".join(_wrap(o, text, ("or",)) for o, text in zip(node.operands, operands))


def _wrap(condition, text: str, looser: tuple[str, ...]) -> str:
    return f"({text})" if condition.kind in looser else text


def print_condition(condition: ir.Condition) -> str:
    """A condition with the fewest parentheses that parse back to the same tree."""
    return fold(condition, _Source())


# ---------------------------------------------------------------- lines


@dataclass
class _Line:
    text: str
    depth: int
    start: int  # where, in the source, the printed construct starts
    end: int
    kind: str  # "atom", "open", "close" or "eof"
    group: int | None  # index of the top-level declaration it belongs to
    leading: list[ir.Comment] = field(default_factory=list)
    trailing: list[ir.Comment] = field(default_factory=list)


class _Printer:
    def __init__(self, module: ir.Module, source: str | None):
        self.module = module
        self.source = source or ""
        self.has_source = source is not None
        self.tokens: list[tuple[int, int, str]] = [
            (m.start(), m.end(), m.group()) for m in _TOKEN.finditer(self.source) if not m.group().startswith("#")
        ]
        self.token_starts = [t[0] for t in self.tokens]
        self.lines: list[_Line] = []
        self.group: int | None = None
        self.line_counts: Counter = Counter()
        self.tall_groups: set[int | None] = set()

    # ------------------------------------------------------------ source positions
    def keyword(self, value_start: int, word: str) -> int:
        """Start of the nearest `word` token before a field's value: where the field begins."""
        index = bisect.bisect_left(self.token_starts, value_start) - 1
        while index >= 0 and self.tokens[index][2] != word:
            index -= 1
        return self.tokens[index][0] if index >= 0 else value_start

    def brace_after(self, offset: int) -> int:
        """End of the first `{` at or after `offset`: where a block's opening line ends."""
        index = bisect.bisect_left(self.token_starts, offset)
        while index < len(self.tokens) and self.tokens[index][2] != "{":
            index += 1
        return self.tokens[index][1] if index < len(self.tokens) else offset

    def token_end_after(self, offset: int) -> int:
        index = bisect.bisect_left(self.token_starts, offset)
        return self.tokens[index][1] if index < len(self.tokens) else offset

    # ------------------------------------------------------------ emitting
    def emit(self, text: str, depth: int, start: int, end: int, kind: str = "atom") -> None:
        self.lines.append(_Line(text, depth, start, end, kind, self.group))

    def block(self, head: str, node: ir.Node, name_end: int, depth: int, fields: list) -> None:
        self.emit(head + " {", depth, node.span.start, self.brace_after(name_end), "open")
        for _start, emit_field in sorted(fields, key=lambda f: f[0]):
            emit_field(depth + 1)
        self.emit("}", depth, node.span.end - 1, node.span.end, "close")

    def text_field(self, word: str, text: ir.Text, *, raw: bool = False, prefix: str = "") -> tuple:
        start = self.keyword(text.span.start, word)

        def emit(depth: int) -> None:
            self.emit(f"{prefix or word} {self.literal(text, depth, raw=raw)}", depth, start, text.span.end)

        return start, emit

    def literal(self, text: ir.Text, depth: int, *, raw: bool = False) -> str:
        try:
            return encode_literal(text.value, INDENT * depth, raw=raw)
        except ValueError:
            # A pattern no canonical literal carries: keep the author's own.
            return self.source[text.span.start : text.span.end]

    def atom_field(self, word: str, value_start: int, end: int, text: str) -> tuple:
        start = self.keyword(value_start, word)
        return start, lambda depth: self.emit(text, depth, start, end)

    # ------------------------------------------------------------ declarations
    def declaration(self, node: Any, depth: int) -> None:
        if isinstance(node, ir.Header):
            fields = [self.text_field(w, getattr(node, w)) for w in ("version", "description") if getattr(node, w) is not None]
            if node.phase is not None:
                fields.append(self.atom_field("phase", node.phase.span.start, node.phase.span.end, f"phase {node.phase.value}"))
            self.block(f"constitution {node.name.value}", node, node.name.span.end, depth, fields)
        elif isinstance(node, ir.Import):
            target = self.literal(ir.Text(span=node.target_span, value=node.target), depth) if node.is_path else node.target
            alias = f" as {node.alias.value}" if node.alias is not None else ""
            self.emit(f"import {target}{alias}", depth, node.span.start, node.span.end)
        elif isinstance(node, ir.ContextBlock):
            fields = [(v.span.start, self.context_var(v)) for v in node.variables]
            self.block("context", node, node.span.start, depth, fields)
        elif isinstance(node, ir.Action):
            text = f" {self.literal(node.text, depth)}" if node.text is not None else ""
            self.emit(f"action {node.name.value}{text}", depth, node.span.start, node.span.end)
        elif isinstance(node, ir.Principle):
            self.block(f"principle {node.name.value}", node, node.name.span.end, depth, self.principle_fields(node))
        elif isinstance(node, ir.Rule):
            self.block(f"{'hard ' if node.hard else ''}rule {node.name.value}", node, node.name.span.end, depth, self.rule_fields(node))
        elif isinstance(node, ir.Priority):
            self.emit("priority " + " > ".join(str(m) for m in node.members), depth, node.span.start, node.span.end)
        elif isinstance(node, ir.Conflict):
            fields = [(c.span.start, self.clause(c)) for c in node.clauses]
            self.block(f"conflict {node.left} vs {node.right}", node, node.right.span.end, depth, fields)
        elif isinstance(node, ir.Deployment):
            head = f"deployment {node.name.value}"
            name_end = node.name.span.end
            if node.extends is not None:
                head += f" extends {node.extends.value}"
                name_end = node.extends.span.end
            fields = [(item.span.start, self.deployment_item(item)) for item in node.items]
            self.block(head, node, name_end, depth, fields)
        elif isinstance(node, ir.Example):
            self.example(node)(depth)
        elif isinstance(node, ir.Comparison):
            self.comparison(node)(depth)
        elif isinstance(node, ir.Test):
            self.block(f"test {node.name.value}", node, node.name.span.end, depth, self.test_fields(node))
        else:
            raise TypeError(f"cannot print {type(node).__name__}")

    def context_var(self, var: ir.ContextVar):
        kind = "bool" if isinstance(var.type, ir.BoolType) else " | ".join(v.value for v in var.type.values)

        def emit(depth: int) -> None:
            text = f"{var.name.value}: {kind}"
            if var.description is not None:
                text += " " + self.literal(var.description, depth)
            if var.by is not None:
                text += f" by {var.by.value}"
            self.emit(text, depth, var.span.start, var.span.end)

        return emit

    def principle_fields(self, node: ir.Principle) -> list:
        fields = [self.text_field(w, getattr(node, w)) for w in ("description", "critique", "revision", "compare") if getattr(node, w) is not None]
        if node.weight is not None:
            fields.append(self.atom_field("weight", node.weight.span.start, node.weight.span.end, f"weight {node.weight.text}"))
        if node.tags:
            end = self.token_end_after(node.tags[-1].span.end)
            fields.append(self.atom_field("tags", node.tags[0].span.start, end, "tags [" + ", ".join(t.value for t in node.tags) + "]"))
        if node.applies is not None:
            fields.append(self.atom_field("applies", node.applies.span.start, node.applies.span.end, "applies when " + print_condition(node.applies)))
        for example in node.examples:
            fields.append((example.span.start, self.example(example)))
        for comparison in node.comparisons:
            fields.append((comparison.span.start, self.comparison(comparison)))
        return fields

    def example(self, node: ir.Example):
        fields = [self.text_field(w, getattr(node, w)) for w in ("prompt", "response", "critique", "revision") if getattr(node, w) is not None]
        fields += self.turn_fields(node.turns)
        for word in ("critique", "revision"):
            request = getattr(node, f"{word}_request")
            if request is not None:
                fields.append(self.text_field(word, request, prefix=f"{word} request"))
        return lambda depth: self.block("example", node, node.span.start, depth, fields)

    def turn_fields(self, turns: tuple[ir.Turn, ...]) -> list:
        return [self.text_field(turn.role, turn.text) for turn in turns]

    def comparison(self, node: ir.Comparison):
        fields = [self.text_field(w, getattr(node, w)) for w in ("prompt", "compare", "reasoning") if getattr(node, w) is not None]
        fields += self.turn_fields(node.turns)
        fields += [self.text_field("response", response) for response in node.responses]
        if node.prefer is not None:
            fields.append(self.atom_field("prefer", node.prefer.span.start, node.prefer.span.end, f"prefer {node.prefer.value}"))
        return lambda depth: self.block("comparison", node, node.span.start, depth, fields)

    def rule_fields(self, node: ir.Rule) -> list:
        fields = []
        if node.verdict is not None and node.action is not None:
            text = f"{node.verdict} {node.action}"
            end = node.action.span.end
            if node.guard is not None and node.condition is not None:
                text += f" {node.guard} {print_condition(node.condition)}"
                end = node.condition.span.end
            fields.append(self.atom_field(node.verdict, node.action.span.start, end, text))
        if node.detect is not None:
            fields.append(self.text_field("detect", node.detect, raw=True, prefix="detect regex"))
        return fields

    def clause(self, clause: ir.PreferClause):
        tail = f"when {print_condition(clause.condition)}" if clause.condition is not None else "otherwise"
        return lambda depth: self.emit(f"prefer {clause.side} {tail}", depth, clause.span.start, clause.span.end)

    def deployment_item(self, item: Any):
        if isinstance(item, ir.Assume):
            text = "assume " + print_condition(item.condition)
        elif isinstance(item, ir.WeightOverride):
            text = f"weight {item.target} {item.weight.text}"
        elif isinstance(item, ir.Disable):
            text = f"disable {item.target}"
        elif isinstance(item, ir.Enable):
            text = f"enable {item.target}"
        else:
            return lambda depth: self.declaration(item, depth)
        return lambda depth: self.emit(text, depth, item.span.start, item.span.end)

    def test_fields(self, node: ir.Test) -> list:
        fields = []
        if node.deployment is not None:
            span = node.deployment.span
            fields.append(self.atom_field("deployment", span.start, span.end, f"deployment {node.deployment.value}"))
        if node.given is not None:
            fields.append(self.atom_field("given", node.given.span.start, node.given.span.end, "given " + print_condition(node.given)))
        for expect in node.expects:
            fields.append((expect.span.start, self.expectation(expect)))
        return fields

    def expectation(self, expect: ir.Expectation):
        def emit(depth: int) -> None:
            text = expect.describe()
            if expect.kind == "detect" and expect.text is not None:
                text = f"expect {'not ' if expect.negated else ''}detect {expect.target} {self.literal(expect.text, depth)}"
            self.emit(text, depth, expect.span.start, expect.span.end)

        return emit

    # ------------------------------------------------------------ the whole module
    def run(self) -> str:
        nodes: list = ([self.module.header] if self.module.header is not None else []) + list(self.module.imports) + list(self.module.declarations)
        kinds: list[type] = []
        for index, node in enumerate(nodes):
            self.group = index
            kinds.append(type(node))
            self.declaration(node, 0)
        self.group = None
        self.emit("", 0, len(self.source), len(self.source), "eof")
        if self.has_source:
            self.attach_comments()
        self.join_empty_blocks()
        self.line_counts = Counter(line.group for line in self.lines)
        self.tall_groups = {line.group for line in self.lines if "\n" in line.text}
        return self.render(kinds)

    def attach_comments(self) -> None:
        order = sorted(range(len(self.lines)), key=lambda i: self.lines[i].start)
        starts = [self.lines[i].start for i in order]
        for comment in self.module.comments:
            begin = comment.span.start
            line_start = self.source.rfind("\n", 0, begin) + 1
            before = self.source[line_start:begin]
            if before.strip():
                code_end = line_start + len(before.rstrip()) - 1
                position = bisect.bisect_right(starts, code_end) - 1
                self.lines[order[max(position, 0)]].trailing.append(comment)
                continue
            position = bisect.bisect_left(starts, begin) - 1
            if position >= 0:
                enclosing = self.lines[order[position]]
                if enclosing.kind in ("atom", "open") and enclosing.end > begin:
                    enclosing.leading.append(comment)
                    continue
            self.lines[order[position + 1]].leading.append(comment)

    def join_empty_blocks(self) -> None:
        """`principle p {}` stays on one line when nothing sits between its braces."""
        joined: list[_Line] = []
        for line in self.lines:
            previous = joined[-1] if joined else None
            if line.kind == "close" and previous is not None and previous.kind == "open" and not previous.trailing and not line.leading:
                previous.text += "}"
                previous.kind = "atom"
                previous.end = line.end
                previous.trailing = line.trailing
                continue
            joined.append(line)
        self.lines = joined

    def render(self, kinds: list[type]) -> str:
        # Each entry: (depth, text, start, end, group, kind, trailing comment or "").
        entries: list[tuple] = []
        for line in self.lines:
            comment_depth = line.depth + 1 if line.kind == "close" else line.depth
            # Comments that cannot stay at the end of the line go above it, in source order.
            for comment in sorted(line.leading + line.trailing[:-1], key=lambda c: c.span.start):
                entries.append((comment_depth, comment.text.rstrip(), comment.span.start, comment.span.end, line.group, "comment", ""))
            if line.kind != "eof":
                trailing = line.trailing[-1].text.rstrip() if line.trailing else ""
                entries.append((line.depth, line.text, line.start, line.end, line.group, line.kind, trailing))
        rows: list[list] = []  # [code, trailing comment, depth, kind]; a blank line has no code
        previous = None
        for entry in entries:
            if previous is not None and self.blank_between(previous, entry, kinds):
                rows.append(["", "", 0, "blank"])
            rows.append([INDENT * entry[0] + entry[1], entry[6], entry[0], entry[5]])
            previous = entry
        _align_trailing(rows)
        return "".join((code + "  " + comment if comment else code) + "\n" for code, comment, _, _ in rows)

    def one_line(self, group: int) -> bool:
        return self.line_counts[group] == 1 and group not in self.tall_groups

    def blank_between(self, first: tuple, second: tuple, kinds: list[type]) -> bool:
        if first[5] == "open" or second[5] == "close":
            return False
        first_group, second_group = first[4], second[4]
        if first_group is not None and second_group is not None and first_group != second_group:
            same_kind = kinds[first_group] is kinds[second_group] and issubclass(kinds[first_group], _ONE_LINERS)
            if not (same_kind and self.one_line(first_group) and self.one_line(second_group)):
                return True
        return bool(_BLANK_LINE.search(self.source, first[3], max(first[3], second[2])))


def _align_trailing(rows: list[list]) -> None:
    """Trailing comments of consecutive one-line items of one block start in one column."""

    def aligned(row: list, first: list) -> bool:
        return bool(row[1]) and row[3] == "atom" and row[2] == first[2] and "\n" not in row[0]

    index = 0
    while index < len(rows):
        run_end = index
        while run_end < len(rows) and aligned(rows[run_end], rows[index]):
            run_end += 1
        if run_end - index > 1:
            width = max(len(row[0]) for row in rows[index:run_end])
            for row in rows[index:run_end]:
                row[0] = row[0].ljust(width)
        index = max(run_end, index + 1)


def print_module(module: ir.Module, source: str | None = None) -> str:
    """Canonical text of a module. Pass the text it was parsed from to keep its
    comments and blank lines; without it, only the declarations are printed."""
    return _Printer(module, source).run()


def ir_shape(module: ir.Module) -> dict:
    """The module's declarations with spans and comments removed: what formatting keeps."""
    data = module.model_dump(mode="json", exclude={"comments", "path", "display"})
    return _strip_spans(data)


_SPAN_KEYS = frozenset(Span.model_fields)


def _strip_spans(value: Any) -> Any:
    if isinstance(value, dict):
        # Any span-shaped value goes, whatever its field is called (`span`, `target_span`, ...).
        return {k: _strip_spans(v) for k, v in value.items() if not (isinstance(v, dict) and set(v) == _SPAN_KEYS)}
    if isinstance(value, list):
        return [_strip_spans(v) for v in value]
    return value
