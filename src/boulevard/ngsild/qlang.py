"""The NGSI-LD query language (clause 4.9): one lexer, one parser, one AST.

``parse(text)`` gives an AST; ``render(ast)`` writes it back as text;
``Matcher`` evaluates it against expanded entities in memory (used by purge,
queries, and later subscriptions). SQL back-ends compile the same AST.
Syntax errors raise ``BadRequestData`` naming the position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from boulevard.errors import BadRequestData
from boulevard.ngsild.context import TermMap
from boulevard.ngsild.model import Entity, Instance

COMPARISON_OPS = ("==", "!=", ">=", "<=", ">", "<", "~=", "!~=")
SYSTEM_MEMBERS = ("observedAt", "createdAt", "modifiedAt", "deletedAt", "unitCode", "datasetId")


@dataclass(frozen=True)
class AttrPath:
    """``attr``, ``attr.sub.sub`` and ``attr[member.member]`` (compound value)."""

    attr: str
    subs: tuple[str, ...] = ()
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Range:
    low: Any
    high: Any


@dataclass(frozen=True)
class ValueList:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Comparison:
    path: AttrPath
    op: str | None = None  # None: the attribute exists; "!": it does not (4.9 "!attr")
    value: Any = None  # literal, Range, ValueList, or regex text


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]


Node = Comparison | And | Or

_NAME_CHARS = re.compile(r"[A-Za-z0-9_:/#@\-\u00C0-\uFFFF]")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TERM = re.compile(r"^[^\W\d_][\w.:/#@%~+\-?=&!$'*]*$")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, msg: str) -> BadRequestData:
        return BadRequestData(f"invalid q at position {self.pos}: {msg} in {self.text!r}")

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def parse(self) -> Node:
        if not self.text.strip():
            raise self.error("empty query")
        node = self.expr()
        if not self.at_end():
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return node

    def expr(self) -> Node:
        """Or-expression of and-expressions (';' binds tighter than '|')."""
        terms = [self.and_expr()]
        while self.peek("|"):
            self.pos += 1
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def and_expr(self) -> Node:
        terms = [self.factor()]
        while self.peek(";"):
            self.pos += 1
            terms.append(self.factor())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def factor(self) -> Node:
        if self.peek("("):
            self.pos += 1
            node = self.expr()
            if not self.peek(")"):
                raise self.error("missing ')'")
            self.pos += 1
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        if self.peek("!"):
            self.pos += 1
            return Comparison(self.attr_path(), "!")
        path = self.attr_path()
        for op in ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<"):
            if self.peek(op):
                self.pos += len(op)
                if op in ("~=", "!~="):
                    return Comparison(path, op, self.regex())
                return Comparison(path, op, self.comp_value(op))
        return Comparison(path)

    def name(self) -> str:
        start = self.pos
        while not self.at_end() and _NAME_CHARS.match(self.text[self.pos]):
            # '//' after a scheme, or ':' inside a name, are part of it; stop before operators
            self.pos += 1
        if self.pos == start:
            raise self.error("attribute name expected")
        return self.text[start : self.pos]

    def attr_path(self) -> AttrPath:
        parts = [self.name()]
        while self.peek("."):
            self.pos += 1
            parts.append(self.name())
        members: list[str] = []
        if self.peek("[*]"):  # every language of a LanguageProperty (4.9)
            self.pos += 3
            return AttrPath(parts[0], tuple(parts[1:]), ("*",))
        if self.peek("["):
            self.pos += 1
            members.append(self.name())
            while self.peek("."):
                self.pos += 1
                members.append(self.name())
            if not self.peek("]"):
                raise self.error("missing ']'")
            self.pos += 1
        return AttrPath(parts[0], tuple(parts[1:]), tuple(members))

    def quoted(self, *, regex: bool) -> str:
        """A double-quoted string at pos. Escapes: in a value every '\\x' is x; in a pattern only
        '\\"' is unescaped, other backslashes belong to the regular expression."""
        end = self.pos + 1
        out = []
        while end < len(self.text) and self.text[end] != '"':
            if self.text[end] == "\\" and end + 1 < len(self.text) and (not regex or self.text[end + 1] == '"'):
                end += 1
            out.append(self.text[end])
            end += 1
        if end >= len(self.text):
            raise self.error("unterminated string")
        self.pos = end + 1
        return "".join(out)

    def regex(self) -> str:
        if self.peek('"'):  # a quoted pattern: may hold ; | and parentheses; \" is a quote
            return self._compiled(self.quoted(regex=True))
        start = self.pos
        depth = 0
        while not self.at_end():
            ch = self.text[self.pos]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif ch in ";|" and depth == 0:
                break
            self.pos += 1
        return self._compiled(self.text[start : self.pos])

    def _compiled(self, pattern: str) -> str:
        if not pattern:
            raise self.error("pattern expected")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self.error(f"bad pattern: {exc}") from exc
        return pattern

    def comp_value(self, op: str) -> Any:
        first = self.value()
        if self.peek(".."):
            self.pos += 2
            second = self.value()
            if op not in ("==", "!="):
                raise self.error("a range needs == or !=")
            return Range(first, second)
        if self.peek(","):
            items = [first]
            while self.peek(","):
                self.pos += 1
                items.append(self.value())
            if op not in ("==", "!="):
                raise self.error("a value list needs == or !=")
            return ValueList(tuple(items))
        return first

    def value(self) -> Any:
        if self.at_end():
            raise self.error("value expected")
        if self.peek('"'):
            return self.quoted(regex=False)
        for rx in (_DATETIME, _DATE, _TIME):
            m = rx.match(self.text, self.pos)
            if m and (rx is not _TIME or self._time_ok(m)):
                if rx is _DATE and self.text.startswith("T", m.end()):
                    continue
                self.pos = m.end()
                return m.group(0)
        m = _NUMBER.match(self.text, self.pos)
        if m and not self.text.startswith("..", m.end()) and m.group(1) is None and m.group(2) is None:
            self.pos = m.end()
            return int(m.group(0))
        if m and (m.group(1) or m.group(2)):
            self.pos = m.end()
            return float(m.group(0))
        if m:
            self.pos = m.end()
            return int(m.group(0))
        for word, val in (("true", True), ("false", False)):
            if self.peek(word):
                self.pos += len(word)
                return val
        start = self.pos
        while not self.at_end() and self.text[self.pos] not in ";|(),":
            if self.peek(".."):
                break
            self.pos += 1
        token = self.text[start : self.pos]
        if not token:
            raise self.error("value expected")
        if not _TERM.match(token):
            raise self.error(f"unquoted value {token!r} is neither a number, a date, a URI nor a term")
        return token  # a URI, or a term that expandValues may expand (4.9 EXAMPLE 12)

    def _time_ok(self, m: re.Match[str]) -> bool:
        return not self.text.startswith("-", m.end()) and len(m.group(0)) >= 5


def parse(text: str) -> Node:
    return _Parser(text).parse()


def render(node: Node) -> str:
    """Write an AST back as q text (parse(render(x)) == x)."""
    if isinstance(node, And):
        return ";".join(_render_term(t, "and") for t in node.terms)
    if isinstance(node, Or):
        return "|".join(_render_term(t, "or") for t in node.terms)
    path = node.path
    text = ".".join((path.attr, *path.subs))
    if path.members:
        text += "[" + ".".join(path.members) + "]"
    if node.op is None:
        return text
    if node.op == "!":
        return "!" + text
    if node.op in ("~=", "!~="):
        pattern = str(node.value)
        if any(c in pattern for c in ';|"') or not pattern:
            pattern = '"' + pattern.replace('"', '\\"') + '"'
        return f"{text}{node.op}{pattern}"
    return f"{text}{node.op}{_render_value(node.value)}"


def _render_term(node: Node, parent: str) -> str:
    inner = render(node)
    if isinstance(node, Or) or (isinstance(node, And) and parent == "and"):
        return f"({inner})"
    return inner


def _render_value(value: Any) -> str:
    if isinstance(value, Range):
        return f"{_render_value(value.low)}..{_render_value(value.high)}"
    if isinstance(value, ValueList):
        return ",".join(_render_value(v) for v in value.items)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and (_DATETIME.fullmatch(value) or _DATE.fullmatch(value)):
        return value
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# --- in-memory evaluation --------------------------------------------------------
_MISSING = object()


class Matcher:
    """Evaluates a q AST against expanded entities, names expanded with a term map."""

    def __init__(self, node: Node, tm: TermMap, expand_values: frozenset[str] = frozenset()) -> None:
        self.node = node
        self.tm = tm
        # attributes whose query values are terms to expand with the @context (expandValues)
        self.expand_values = expand_values

    def __call__(self, entity: Entity) -> bool:
        return self._eval(self.node, entity)

    def values(self, entity: Entity) -> list[Any]:
        """The values the (comparison) node's path names in an entity (orderBy reuses it)."""
        assert isinstance(self.node, Comparison)
        return self._values(self.node.path, entity)

    def _eval(self, node: Node, entity: Entity) -> bool:
        if isinstance(node, And):
            return all(self._eval(t, entity) for t in node.terms)
        if isinstance(node, Or):
            return any(self._eval(t, entity) for t in node.terms)
        if node.op == "!":
            return not self._values(node.path, entity)
        ordering = node.op in (">", ">=", "<", "<=")
        return any(self._compare(node, v) for v in self._values(node.path, entity, ordering=ordering))

    def _values(self, path: AttrPath, entity: Entity, *, ordering: bool = False) -> list[Any]:
        """The values a path names; an ordering comparison never looks at a relationship's object."""
        if path.attr in ("id", "@id") and not path.subs:
            return [entity["id"]]
        if path.attr in ("createdAt", "modifiedAt") and not path.subs:
            return [entity.get(path.attr)]
        instances = entity["attrs"].get(self.tm.expand(path.attr), [])
        out: list[Any] = []
        for inst in instances:
            node: Any = inst
            for i, sub in enumerate(path.subs):
                if sub in SYSTEM_MEMBERS and i == len(path.subs) - 1:
                    node = node.get(sub, _MISSING)
                    break
                node = node.get(self.tm.expand(sub), _MISSING)
                if node is _MISSING:
                    break
            if node is _MISSING:
                continue
            if isinstance(node, dict):
                if ordering and node.get("type") in ("Relationship", "ListRelationship"):
                    continue
                if path.members and node.get("type") == "LanguageProperty":
                    # attr[tag]: the text in that language; attr[*]: in any language
                    lmap = node.get("languageMap") or {}
                    if path.members == ("*",):
                        out.append(list(lmap.values()))
                    elif len(path.members) == 1 and path.members[0] in lmap:
                        out.append(lmap[path.members[0]])
                    continue
                node = _instance_value(node, self.tm)
            for member in path.members:
                if isinstance(node, dict) and member in node:
                    node = node[member]
                else:
                    node = _MISSING
                    break
            if node is not _MISSING:
                out.append(node)
        return out

    def _compare(self, node: Comparison, actual: Any) -> bool:
        if node.op is None:
            return True
        if isinstance(actual, list) and node.op not in ("!=", "!~="):
            return any(self._compare(node, a) for a in actual)
        if isinstance(actual, dict) and "@value" in actual:
            actual = actual["@value"]
        op, want = node.op, node.value
        if op == "~=":
            return isinstance(actual, str) and re.search(want, actual) is not None
        if op == "!~=":
            return isinstance(actual, str) and re.search(want, actual) is None
        if op in ("==", "!="):
            hit = self._equals(actual, want, node.path.attr in self.expand_values)
            return hit if op == "==" else not hit
        return _ordered(actual, want, op)

    def _equals(self, actual: Any, want: Any, expand: bool) -> bool:
        if isinstance(actual, list):
            return any(self._equals(a, want, expand) for a in actual)
        if isinstance(want, Range):
            return _ordered(actual, want.low, ">=") and _ordered(actual, want.high, "<=")
        if isinstance(want, ValueList):
            return any(self._equals(actual, w, expand) for w in want.items)
        if isinstance(actual, bool) or isinstance(want, bool):
            return actual is want
        if isinstance(actual, (int, float)) and isinstance(want, (int, float)):
            return actual == want
        if isinstance(actual, str) and isinstance(want, str):
            return actual == want or (expand and actual == self.tm.expand(want))
        return bool(actual == want)


def _ordered(actual: Any, want: Any, op: str) -> bool:
    if isinstance(actual, bool) or isinstance(want, bool):
        return False
    comparable = (isinstance(actual, (int, float)) and isinstance(want, (int, float))) or (
        isinstance(actual, str) and isinstance(want, str)
    )
    if not comparable:
        return False
    if op == ">":
        return bool(actual > want)
    if op == ">=":
        return bool(actual >= want)
    if op == "<":
        return bool(actual < want)
    return bool(actual <= want)


def _instance_value(inst: Instance, tm: TermMap) -> Any:
    atype = inst.get("type", "Property")
    if atype == "Relationship":
        return inst.get("object")
    if atype == "LanguageProperty":
        return list((inst.get("languageMap") or {}).values())
    if atype == "VocabProperty":
        return inst.get("vocab")
    if atype == "JsonProperty":
        return inst.get("json")
    if atype == "ListProperty":
        return inst.get("valueList")
    if atype == "ListRelationship":
        return [o.get("object") for o in inst.get("objectList", [])]
    return inst.get("value")
