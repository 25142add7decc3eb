"""q compiled to SQL: the database's pre-filter never loses a match of the in-memory matcher."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boulevard.ngsild import qlang
from boulevard.ngsild.context import ContextCache, TermMap
from boulevard.ngsild.model import new_entity, parse_entity
from boulevard.ngsild.qlang import And, AttrPath, Comparison, Or, Range, ValueList
from boulevard.ngsild.selection import build_selection, q_prefilter
from boulevard.storage.base import AttrEquals, EntityFilter, HasAttr
from boulevard.storage.sqlite import SqliteStore

_TENANTS = itertools.count()
TM: TermMap = asyncio.run(ContextCache().term_map(None))
NAMES = ("a", "b", "c")
VALUES = (0, 1, 2, 2.0, 2.5, True, False, "x", "y", "urn:ngsi-ld:T:1", "2024-01-01T00:00:00Z")


def _attr(value: Any, kind: int) -> Any:
    if kind == 0:
        return {"type": "Property", "value": value}
    if kind == 1:
        return {"type": "Property", "value": [value, "x"]}  # a list: any element may match
    if kind == 2:
        return {"type": "Relationship", "object": "urn:ngsi-ld:T:1"}
    if kind == 3:
        return {"type": "Property", "value": {"k": value}}  # compound
    if kind == 4:
        return {"type": "LanguageProperty", "languageMap": {"en": "x"}}
    return {"type": "Property", "value": value, "s": {"type": "Property", "value": value}}  # with a sub-attribute


ATTR = st.builds(_attr, st.sampled_from(VALUES), st.integers(0, 5))
ENTITY = st.dictionaries(st.sampled_from(NAMES), ATTR, max_size=3)
LITERAL = st.sampled_from(VALUES)
PATH = st.one_of(
    st.builds(AttrPath, st.sampled_from(NAMES)),
    st.builds(AttrPath, st.sampled_from(NAMES), st.just(("s",))),
    st.builds(AttrPath, st.sampled_from(NAMES), st.just(()), st.just(("k",))),
    st.just(AttrPath("id")),
)
COMPARISON = st.one_of(
    st.builds(Comparison, PATH),
    st.builds(Comparison, PATH, st.sampled_from(["==", "!=", ">", "<", ">=", "<="]), LITERAL),
    st.builds(Comparison, PATH, st.just("=="), st.builds(Range, st.sampled_from([0, 1]), st.sampled_from([2, 3]))),
    st.builds(Comparison, PATH, st.sampled_from(["==", "!="]),
              st.lists(LITERAL, min_size=2, max_size=3).map(lambda xs: ValueList(tuple(xs)))),
    st.builds(Comparison, PATH, st.sampled_from(["~=", "!~="]), st.sampled_from(["^x", "y$", "T"])),
)
NODE = st.recursive(COMPARISON, lambda inner: st.one_of(
    st.lists(inner, min_size=2, max_size=3).map(lambda ts: And(tuple(ts))),
    st.lists(inner, min_size=2, max_size=3).map(lambda ts: Or(tuple(ts))),
), max_leaves=5)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    s = SqliteStore(str(tmp_path_factory.mktemp("q") / "q.db"), synchronous="OFF")
    try:
        yield s
    finally:
        s.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ENTITY, min_size=1, max_size=12), NODE)
def test_sql_prefilter_keeps_every_match(store: SqliteStore, bodies: list[dict[str, Any]], node: qlang.Node) -> None:
    tenant = f"t{next(_TENANTS)}"  # each example in its own tenant
    entities = [
        new_entity(parse_entity({"id": f"urn:ngsi-ld:T:{i}", "type": "T", **b}, TM), "2024-01-01T00:00:00.000Z")
        for i, b in enumerate(bodies)
    ]
    store.write_sync(tenant, lambda w: w.insert_many(entities), create_tenant=True)
    matcher = qlang.Matcher(node, TM)
    expected = [e["id"] for e in entities if matcher(e)]
    sel = build_selection(TM, q=qlang.render(node))
    narrowed = store.read_sync(tenant, lambda r: [e["id"] for e in r.scan(sel.flt)])
    assert set(expected) <= set(narrowed)  # never loses a match
    got = store.read_sync(tenant, lambda r: [e["id"] for e in r.scan(sel.flt) if sel.match is None or sel.match(e)])
    assert sorted(got) == sorted(expected)


def test_prefilter_shapes() -> None:
    a = TM.expand("a")
    assert q_prefilter(qlang.parse('a=="x"'), TM) == AttrEquals(a, ("x",))
    assert q_prefilter(qlang.parse("a==x"), TM, frozenset({"a"})) == AttrEquals(a, ("x", TM.expand("x")))
    assert q_prefilter(qlang.parse("a==1,2"), TM) == AttrEquals(a, (1, 2))
    assert q_prefilter(qlang.parse("a>1"), TM) == HasAttr(a)
    assert q_prefilter(qlang.parse("a.s==1"), TM) == HasAttr(a)
    assert q_prefilter(qlang.parse("id==urn:x:1"), TM) is None
    assert q_prefilter(qlang.parse("id==urn:x:1|a==1"), TM) is None  # an Or with an unbounded branch
    assert q_prefilter(qlang.parse("a==99999999999999999999"), TM) == HasAttr(a)  # beyond SQLite integers


def test_prefilter_narrows_in_sql(store: SqliteStore) -> None:
    bodies = [{"a": {"type": "Property", "value": i % 10}} for i in range(200)]
    entities = [new_entity(parse_entity({"id": f"urn:ngsi-ld:T:{i}", "type": "T", **b}, TM), "x") for i, b in
                enumerate(bodies)]
    store.write_sync("narrow", lambda w: w.insert_many(entities), create_tenant=True)
    flt = EntityFilter(attrs=AttrEquals(TM.expand("a"), (3,)))
    assert store.read_sync("narrow", lambda r: len(list(r.scan(flt)))) == 20


def test_path_sql_is_safe_for_odd_names(tmp_path: Path) -> None:
    s = SqliteStore(str(tmp_path / "odd.db"))
    try:
        flt = EntityFilter(attrs=HasAttr("http://example.org/a.b$c[0]"))
        assert s.read_sync("", lambda r: list(r.scan(flt))) == []
    finally:
        s.close()
