"""Entity selection from query parameters: types, ids, idPattern, q, attrs.

Builds a storage pre-filter (what SQL can narrow cheaply) and an in-memory
matcher for the rest; shared by query entities and purge entities.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from boulevard.errors import BadRequestData
from boulevard.ngsild import qlang
from boulevard.ngsild.context import TermMap
from boulevard.ngsild.model import Entity, check_uri
from boulevard.storage.base import EntityFilter

SYSTEM_ATTRS = frozenset({"createdAt", "modifiedAt", "deletedAt", "id", "type", "scope"})
TypeExpr = Callable[[list[str]], bool]


@dataclass
class EntitySelection:
    flt: EntityFilter
    match: Callable[[Entity], bool] | None
    narrows: bool  # selects by something more than ids (purge needs that)


def parse_type_expr(text: str, tm: TermMap) -> tuple[TypeExpr, tuple[str, ...] | None]:
    """Type selection (4.17): ',' and '|' are OR, ';' is AND, with parentheses.

    Returns the matcher and, when the expression is a plain OR of names, those
    IRIs for the storage pre-filter.
    """
    tokens = re.findall(r"[(),;|]|[^(),;|]+", text.replace(" ", ""))
    pos = 0

    def expr() -> TypeExpr:
        nonlocal pos
        terms = [conj()]
        while pos < len(tokens) and tokens[pos] in (",", "|"):
            pos += 1
            terms.append(conj())
        if len(terms) == 1:
            return terms[0]
        alts = tuple(terms)

        def any_of(ts: list[str]) -> bool:
            return any(f(ts) for f in alts)

        return any_of

    def conj() -> TypeExpr:
        nonlocal pos
        terms = [atom()]
        while pos < len(tokens) and tokens[pos] == ";":
            pos += 1
            terms.append(atom())
        if len(terms) == 1:
            return terms[0]
        parts = tuple(terms)

        def all_of(ts: list[str]) -> bool:
            return all(f(ts) for f in parts)

        return all_of

    def atom() -> TypeExpr:
        nonlocal pos
        if pos >= len(tokens):
            raise BadRequestData(f"invalid type selection {text!r}")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            inner = expr()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise BadRequestData(f"unbalanced parentheses in type selection {text!r}")
            pos += 1
            return inner
        if tok in "),;|":
            raise BadRequestData(f"invalid type selection {text!r}")
        iri = tm.expand(tok)
        return lambda ts: iri in ts

    matcher = expr()
    if pos != len(tokens):
        raise BadRequestData(f"invalid type selection {text!r}")
    plain: tuple[str, ...] | None = None
    if not any(t in ("(", ")", ";") for t in tokens):
        plain = tuple(tm.expand(t) for t in tokens if t not in (",", "|"))
    return matcher, plain


def build_selection(
    tm: TermMap,
    *,
    type_expr: str | None = None,
    ids: list[str] | None = None,
    id_pattern: str | None = None,
    q: str | None = None,
    attrs: list[str] | None = None,
) -> EntitySelection:
    matchers: list[Callable[[Entity], bool]] = []
    types: tuple[str, ...] | None = None
    narrows = False
    if type_expr is not None:
        if not type_expr.strip():
            raise BadRequestData("type must not be empty")
        type_match, types = parse_type_expr(type_expr, tm)
        if types is None:
            matchers.append(lambda e: type_match(e["type"]))
        narrows = True
    if ids is not None:
        for i in ids:
            check_uri(i, "id")
    if id_pattern is not None:
        try:
            re.compile(id_pattern)
        except re.error as exc:
            raise BadRequestData(f"invalid idPattern: {exc}") from exc
    if q is not None:
        node = qlang.parse(q)
        matchers.append(qlang.Matcher(node, tm))
        if _names_non_system(node):
            narrows = True
    if attrs:
        wanted = [tm.expand(a) for a in attrs if a not in SYSTEM_ATTRS]
        if wanted:
            narrows = True
            matchers.append(lambda e: any(a in e["attrs"] for a in wanted))
    flt = EntityFilter(types=types, ids=tuple(ids) if ids else None, id_pattern=id_pattern)
    match = None
    if matchers:
        match = matchers[0] if len(matchers) == 1 else (lambda e: all(m(e) for m in matchers))
    return EntitySelection(flt, match, narrows)


def _names_non_system(node: qlang.Node) -> bool:
    if isinstance(node, (qlang.And, qlang.Or)):
        return any(_names_non_system(t) for t in node.terms)
    return node.path.attr not in SYSTEM_ATTRS
