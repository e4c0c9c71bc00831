"""Completion: what may be typed at the cursor, judged from the text before it.

While someone types, the file rarely parses, so the place is read from the
tokens before the cursor rather than from the IR: which blocks are open
(`principle {`, `deployment {`, `x in {`), and the last words. After
`priority`, `>`, `vs`, `prefer`, `disable`, `enable` or a deployment's
`weight` come principle and rule references; after `never`/`always`,
actions; after `when`, `unless`, `assume`, `and`, `or`, `not`, context
variables; after a comparison or inside `in {...}`, the variable's values;
after `alias.`, that module's items; after `import`, standard library
modules; after a context variable's type or description, `by user` and
`by operator`; after `hard`, `rule`; elsewhere, the keywords that may start
the next field or declaration (`hard` among them). Names come from the last successful check of the document.
"""

from __future__ import annotations

import re

from lsprotocol import types

from cai_lang.ir.model import Constitution, PrincipleDef
from cai_lang.ir.program import Program
from cai_lang.lsp.index import Scopes, all_items
from cai_lang.resources import stdlib_dir

_TOKENS = re.compile(r'"""(?:.|\n)*?(?:"""|\Z)|"(?:\\.|[^"\\\n])*(?:"|$)|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?|[=!<>]=|\S', re.M)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

BLOCKS = ("constitution", "context", "principle", "rule", "conflict", "deployment", "example", "comparison")
KEYWORDS = {
    "top": ["constitution", "import", "context", "action", "principle", "rule", "hard", "priority", "conflict", "deployment", "example", "comparison"],
    "constitution": ["version", "description", "phase"],
    "context": [],
    "principle": ["description", "critique", "revision", "compare", "weight", "tags", "applies", "example", "comparison"],
    "example": ["prompt", "user", "assistant", "response", "critique", "revision"],
    "comparison": ["prompt", "user", "assistant", "response", "compare", "prefer", "reasoning"],
    "rule": ["never", "always", "detect"],
    "conflict": ["prefer"],
    "deployment": ["assume", "weight", "disable", "enable", "principle", "rule", "hard", "priority", "conflict"],
}
_REFERENCES = {"priority", ">", "vs", "prefer", "disable", "enable"}
_CONDITION_START = {"when", "unless", "assume", "and", "or", "not", "("}
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
# Words after which a new name is being made up: nothing to offer.
_NAMING = {"principle", "rule", "action", "deployment", "constitution", "as", "example", "comparison", "tags", "["}
# The words that start a clause, to tell a priority's `>` from a comparison's.
_CLAUSES = _REFERENCES - {">"} | {"when", "unless", "assume", "never", "always", "weight", "{", "}"} | set(KEYWORDS["principle"])


class _Place:
    def __init__(self, text: str):
        tokens = [m.group() for m in _TOKENS.finditer(text)]
        self.inert = bool(tokens) and _inside_comment_or_string(tokens[-1], text)
        if tokens and _NAME.match(tokens[-1]) and text.endswith(tokens[-1]):
            tokens.pop()  # the word being typed
        self.tokens = [t for t in tokens if not t.startswith("#")]
        self.stack: list[tuple[str, str | None]] = []
        keyword = None
        for index, token in enumerate(self.tokens):
            if token in BLOCKS or token == "in":
                keyword = token
            elif token == "{":
                var = self.tokens[index - 2] if keyword == "in" and index >= 2 else None
                self.stack.append((keyword or "top", var))
                keyword = None
            elif token == "}":
                if self.stack:
                    self.stack.pop()
                keyword = None

    @property
    def block(self) -> str:
        return self.stack[-1][0] if self.stack else "top"

    def back(self, count: int) -> str:
        return self.tokens[-count] if len(self.tokens) >= count else ""

    def clause(self) -> str:
        for token in reversed(self.tokens):
            if token in _CLAUSES:
                return token
        return ""


def _inside_comment_or_string(token: str, text: str) -> bool:
    if not text.endswith(token):
        return False
    if token.startswith("#"):
        return True
    if token.startswith('"""'):
        return len(token) < 6 or not token.endswith('"""')
    return token.startswith('"') and (len(token) == 1 or not token.endswith('"') or token.endswith('\\"'))


def _item(label: str, kind: types.CompletionItemKind, detail: str) -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind, detail=detail)


def _keywords(words) -> list[types.CompletionItem]:
    return [_item(w, types.CompletionItemKind.Keyword, "keyword") for w in words]


class Names:
    """The names one module can refer to, from a checked program."""

    def __init__(self, program: Program | None, constitution: Constitution | None, path: str):
        self.constitution = constitution
        self.visible: dict[str, str] = {}  # prefix of ids -> how they are written here ("" or "alias.")
        if program is not None and constitution is not None:
            scopes = Scopes(program)
            if path in scopes.prefix:
                self.visible[scopes.prefix[path]] = ""
                for alias, target in scopes.aliases.get(path, {}).items():
                    self.visible.setdefault(scopes.prefix[target], alias + ".")

    def _written(self, ids, only_alias: str | None = None):
        for item_id in ids:
            for prefix, written in self.visible.items():
                rest = item_id[len(prefix):]
                if item_id.startswith(prefix) and "." not in rest and (only_alias is None or written == only_alias + "."):
                    yield item_id, (rest if only_alias is not None else written + rest)

    def items(self, alias: str | None = None) -> list[types.CompletionItem]:
        if self.constitution is None:
            return []
        found = []
        known = all_items(self.constitution)
        for item_id, label in self._written(known, alias):
            item = known[item_id]
            is_principle = isinstance(item, PrincipleDef)
            kind = types.CompletionItemKind.Class if is_principle else types.CompletionItemKind.Interface
            found.append(_item(label, kind, f"{'principle' if is_principle else 'rule'} {item_id}"))
        return found

    def actions(self, alias: str | None = None) -> list[types.CompletionItem]:
        if self.constitution is None:
            return []
        return [_item(label, types.CompletionItemKind.Function, self.constitution.actions[i].text) for i, label in self._written(self.constitution.actions, alias)]

    def modules(self) -> list[types.CompletionItem]:
        return [_item(w[:-1], types.CompletionItemKind.Module, "imported module") for w in self.visible.values() if w]

    def variables(self) -> list[types.CompletionItem]:
        if self.constitution is None:
            return []
        return [_item(v.name, types.CompletionItemKind.Variable, v.describe()) for v in self.constitution.context.values()]

    def values(self, var: str) -> list[types.CompletionItem]:
        variable = self.constitution.context.get(var) if self.constitution is not None else None
        if variable is None:
            return []
        values = variable.values if variable.kind == "enum" else ("true", "false")
        return [_item(v, types.CompletionItemKind.EnumMember, f"value of {var}") for v in values]

    def deployments(self) -> list[types.CompletionItem]:
        names = list(self.constitution.deployments) if self.constitution is not None else ["default"]
        return [_item(n, types.CompletionItemKind.Enum, "deployment") for n in names]


def stdlib_modules() -> list[types.CompletionItem]:
    return [_item(f"std.{p.stem}", types.CompletionItemKind.Module, "standard library module") for p in sorted(stdlib_dir().glob("*.const"))]


def complete(text_before: str, names: Names) -> list[types.CompletionItem]:
    """Completion items for a cursor placed after `text_before`."""
    place = _Place(text_before)
    if place.inert:
        return []
    last, before = place.back(1), place.back(2)
    if last == "." and _NAME.match(before):
        if place.back(3) == "import" and before == "std":
            return [types.CompletionItem(label=i.label[4:], kind=i.kind, detail=i.detail) for i in stdlib_modules()]
        return names.actions(before) if place.back(3) in ("never", "always") else names.items(before)
    if place.block == "in":
        return names.values(place.stack[-1][1] or "")
    if last == "hard":
        return _keywords(["rule"])
    if place.block == "context" and last == "by":
        return _keywords(["user", "operator"])
    if place.block == "context" and (last.startswith('"') or (_NAME.match(last) and before in (":", "|"))):
        # After a variable's type or description (language 1.2): who may set it.
        return [_item(f"by {who}", types.CompletionItemKind.Keyword, f"the {who} may set this variable") for who in ("user", "operator")]
    if last in _NAMING or (place.block == "context" and last != ":"):
        return []
    if last == ":" and place.block == "context":
        return _keywords(["bool"])
    if last in ("never", "always"):
        return names.actions() + names.modules()
    if last in _COMPARISONS and place.clause() in ("when", "unless", "assume", "applies"):
        return names.values(before)
    if last in _REFERENCES or (last == "weight" and place.block == "deployment"):
        return names.items() + names.modules()
    if last in _CONDITION_START:
        return names.variables() + _keywords(["not", "true", "false"])
    if last == "extends":
        return names.deployments()
    if last == "import":
        return stdlib_modules()
    if last == "detect":
        return _keywords(["regex"])
    if last == "applies":
        return _keywords(["when"])
    followers = []
    if place.clause() in ("when", "unless", "assume", "applies") and (_NAME.match(last) or last in (")", "}")):
        followers = ["and", "or"]
    if place.back(2) == "prefer":
        followers = ["when", "otherwise"]
    elif place.back(2) in ("never", "always"):
        followers = ["when", "unless"]
    return _keywords(followers + KEYWORDS.get(place.block, []))
