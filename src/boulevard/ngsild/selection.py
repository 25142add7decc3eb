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
from boulevard.ngsild.geoquery import GeoQuery
from boulevard.ngsild.model import Entity, check_uri
from boulevard.storage.base import AllOf, AnyOf, AttrCond, AttrEquals, EntityFilter, HasAttr

SYSTEM_ATTRS = frozenset({"createdAt", "modifiedAt", "deletedAt", "id", "type", "scope"})
TypeExpr = Callable[[list[str]], bool]


@dataclass
class EntitySelection:
    flt: EntityFilter
    match: Callable[[Entity], bool] | None
    narrows: bool  # selects by something more than ids (purge needs that)


ListTest = Callable[[list[str]], bool]


def parse_list_expr(text: str, term: Callable[[str], ListTest], what: str) -> ListTest:
    """The boolean grammar shared by type selections (4.17) and scopeQ (4.19): terms joined by
    ';' (and), ',' or '|' (or), with parentheses; ``term`` makes the test for one term."""
    tokens = re.findall(r"[(),;|]|[^(),;|]+", text.replace(" ", ""))
    if not tokens:
        raise BadRequestData(f"{what} must not be empty")
    pos = 0

    def expr() -> ListTest:
        nonlocal pos
        terms = [conj()]
        while pos < len(tokens) and tokens[pos] in (",", "|"):
            pos += 1
            terms.append(conj())
        if len(terms) == 1:
            return terms[0]
        alts = tuple(terms)
        return lambda xs: any(f(xs) for f in alts)

    def conj() -> ListTest:
        nonlocal pos
        terms = [atom()]
        while pos < len(tokens) and tokens[pos] == ";":
            pos += 1
            terms.append(atom())
        if len(terms) == 1:
            return terms[0]
        parts = tuple(terms)
        return lambda xs: all(f(xs) for f in parts)

    def atom() -> ListTest:
        nonlocal pos
        if pos >= len(tokens):
            raise BadRequestData(f"invalid {what} {text!r}")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            inner = expr()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise BadRequestData(f"unbalanced parentheses in {what} {text!r}")
            pos += 1
            return inner
        if tok in "),;|":
            raise BadRequestData(f"invalid {what} {text!r}")
        return term(tok)

    matcher = expr()
    if pos != len(tokens):
        raise BadRequestData(f"invalid {what} {text!r}")
    return matcher


def parse_type_expr(text: str, tm: TermMap) -> tuple[TypeExpr, tuple[str, ...] | None]:
    """Type selection (4.17): ',' and '|' are OR, ';' is AND, with parentheses.

    Returns the matcher and, when the expression is a plain OR of names, those
    IRIs for the storage pre-filter.
    """

    def has_type(name: str) -> ListTest:
        iri = tm.expand(name)
        return lambda types: iri in types

    matcher = parse_list_expr(text, has_type, "type selection")
    tokens = re.findall(r"[(),;|]|[^(),;|]+", text.replace(" ", ""))
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
    geo: GeoQuery | None = None,
    scope_q: str | None = None,
    expand_values: frozenset[str] = frozenset(),
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
    conds: list[AttrCond] = []
    if q is not None:
        node = qlang.parse(q)
        matchers.append(qlang.Matcher(node, tm, expand_values))
        if _names_non_system(node):
            narrows = True
        cond = q_prefilter(node, tm, expand_values)
        if cond is not None:
            conds.append(cond)
    if attrs:
        wanted = [tm.expand(a) for a in attrs if a not in SYSTEM_ATTRS]
        if wanted:
            narrows = True
            matchers.append(lambda e: any(a in e["attrs"] for a in wanted))
            conds.append(AnyOf(tuple(HasAttr(a) for a in wanted)) if len(wanted) > 1 else HasAttr(wanted[0]))
    if geo is not None:
        narrows = True
        matchers.append(geo.matches)
    if scope_q is not None:
        scope_match = parse_scope_query(scope_q)
        narrows = True
        matchers.append(lambda e: scope_match(e.get("scope") or []))
    flt = EntityFilter(
        types=types, ids=tuple(ids) if ids else None, id_pattern=id_pattern, geo=None if geo is None else geo.box(),
        attrs=None if not conds else conds[0] if len(conds) == 1 else AllOf(tuple(conds)),
    )
    match = None
    if matchers:
        match = matchers[0] if len(matchers) == 1 else (lambda e: all(m(e) for m in matchers))
    return EntitySelection(flt, match, narrows)


def filter_matcher(flt: EntityFilter) -> Callable[[Entity], bool]:
    """The storage pre-filter, evaluated in memory (to OR several selectors)."""
    types = frozenset(flt.types) if flt.types else None
    ids = frozenset(flt.ids) if flt.ids else None
    rx = re.compile(flt.id_pattern) if flt.id_pattern else None

    def match(e: Entity) -> bool:
        return (
            (types is None or not types.isdisjoint(e["type"]))
            and (ids is None or e["id"] in ids)
            and (rx is None or rx.search(e["id"]) is not None)
        )

    return match


def combine(shared: EntitySelection, alternatives: list[EntitySelection]) -> EntitySelection:
    """``shared`` AND (any of ``alternatives``): POST query's several entity selectors."""
    if not alternatives:
        return shared
    if len(alternatives) == 1:
        alt = alternatives[0]
        flt = alt.flt
        alt_match: Callable[[Entity], bool] | None = alt.match
    else:
        types: set[str] | None = set()
        for a in alternatives:
            if a.flt.types is None or types is None:
                types = None
            else:
                types.update(a.flt.types)
        flt = EntityFilter(types=tuple(sorted(types)) if types else None)
        tests = [(filter_matcher(a.flt), a.match) for a in alternatives]
        alt_match = lambda e: any(f(e) and (m is None or m(e)) for f, m in tests)  # noqa: E731
    parts = [m for m in (alt_match, shared.match) if m is not None]
    match = None if not parts else parts[0] if len(parts) == 1 else (lambda e: all(m(e) for m in parts))
    return EntitySelection(flt, match, shared.narrows or any(a.narrows for a in alternatives))


def q_prefilter(node: qlang.Node, tm: TermMap, expand_values: frozenset[str] = frozenset()) -> AttrCond | None:
    """A condition every entity matching ``node`` meets, for the database to narrow with;
    None when there is none. Any comparison needs its attribute; ``==`` on a plain
    path with scalar literals also needs one of those values (or an instance the
    database cannot judge)."""
    if isinstance(node, (qlang.And, qlang.Or)):
        terms = [q_prefilter(t, tm, expand_values) for t in node.terms]
        if isinstance(node, qlang.Or):
            return None if any(t is None for t in terms) else AnyOf(tuple(t for t in terms if t is not None))
        kept = tuple(t for t in terms if t is not None)
        return None if not kept else kept[0] if len(kept) == 1 else AllOf(kept)
    path = node.path
    if (path.attr in _ENTITY_MEMBERS and not path.subs) or node.op == "!":
        return None
    iri = tm.expand(path.attr)
    literals = node.value.items if isinstance(node.value, qlang.ValueList) else (node.value,)
    if node.op == "==" and not path.subs and not path.members and all(
        isinstance(v, (str, float, bool)) or (isinstance(v, int) and -(2**63) <= v < 2**63) for v in literals
    ):
        values: list[str | int | float | bool] = []
        for v in literals:
            values.append(v)
            if isinstance(v, str) and path.attr in expand_values and tm.expand(v) != v:
                values.append(tm.expand(v))
        return AttrEquals(iri, tuple(values))
    return HasAttr(iri)


_ENTITY_MEMBERS = frozenset({"id", "@id", "createdAt", "modifiedAt"})


def _names_non_system(node: qlang.Node) -> bool:
    if isinstance(node, (qlang.And, qlang.Or)):
        return any(_names_non_system(t) for t in node.terms)
    return node.path.attr not in SYSTEM_ATTRS


# --- scopeQ (4.19) --------------------------------------------------------------------
ScopeExpr = Callable[[list[str]], bool]
_SCOPE_SEGMENT = re.compile(r"^[^\W\d_]\w*$")


def _scope_term(term: str) -> ScopeExpr:
    """One scope pattern: '/a/b' exactly, '+' one level of anything, '/a/#' it and below, '/#' any."""
    segments = term.split("/")
    if term == "/#":
        return lambda scopes: bool(scopes)
    if segments[0] != "" or len(segments) < 2:
        raise BadRequestData(f"invalid scope in scopeQ: {term!r}")
    body, tail = segments[1:], ""
    if body[-1] == "#":
        body, tail = body[:-1], "(/.*)?"
    if not body or not all(seg == "+" or _SCOPE_SEGMENT.match(seg) for seg in body):
        raise BadRequestData(f"invalid scope in scopeQ: {term!r}")
    rx = re.compile("^" + "".join("/[^/]+" if seg == "+" else "/" + re.escape(seg) for seg in body) + tail + "$")
    return lambda scopes: any(rx.match(s) for s in scopes)


def parse_scope_query(text: str) -> ScopeExpr:
    """scopeQ: scope patterns joined by ';' (and), ',' or '|' (or), with parentheses."""
    return parse_list_expr(text, _scope_term, "scopeQ")
