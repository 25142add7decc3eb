"""The q query language (clause 4.9): parser, renderer and in-memory matcher."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boulevard.errors import BadRequestData
from boulevard.ngsild import qlang
from boulevard.ngsild.context import DEFAULT_VOCAB, ContextCache
from boulevard.ngsild.model import new_entity, parse_entity
from boulevard.ngsild.qlang import And, AttrPath, Comparison, Or, Range, ValueList, parse, render

TM = ContextCache().core


def cmp(attr: str, op: str | None = None, value: Any = None, subs: tuple[str, ...] = (),
        members: tuple[str, ...] = ()) -> Comparison:
    return Comparison(AttrPath(attr, subs, members), op, value)


# --- grammar ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "ast"),
    [
        ("a", cmp("a")),
        ("a==1", cmp("a", "==", 1)),
        ("a!=1", cmp("a", "!=", 1)),
        ("a>1", cmp("a", ">", 1)),
        ("a<1", cmp("a", "<", 1)),
        ("a>=1", cmp("a", ">=", 1)),
        ("a<=1", cmp("a", "<=", 1)),
        ("a==-3", cmp("a", "==", -3)),
        ("a==1.5", cmp("a", "==", 1.5)),
        ("a==-0.25", cmp("a", "==", -0.25)),
        ("a==1e3", cmp("a", "==", 1000.0)),
        ("a==true", cmp("a", "==", True)),
        ("a!=false", cmp("a", "!=", False)),
        ('a=="text"', cmp("a", "==", "text")),
        ('a=="semi;colon|pipe(paren)"', cmp("a", "==", "semi;colon|pipe(paren)")),
        ('a=="esc \\"q\\" \\\\"', cmp("a", "==", 'esc "q" \\')),
        ('a==""', cmp("a", "==", "")),
        ("a==urn:ngsi-ld:Building:1", cmp("a", "==", "urn:ngsi-ld:Building:1")),
        ("a==http://x.org/p?q", cmp("a", "==", "http://x.org/p?q")),
        ("a==2024-01-31", cmp("a", "==", "2024-01-31")),
        ("a>=2024-01-31T10:00:00Z", cmp("a", ">=", "2024-01-31T10:00:00Z")),
        ("a<2024-01-31T10:00:00.123+01:00", cmp("a", "<", "2024-01-31T10:00:00.123+01:00")),
        ("a==10:30:00Z", cmp("a", "==", "10:30:00Z")),
        ("a>12:00", cmp("a", ">", "12:00")),
        ("a==1..5", cmp("a", "==", Range(1, 5))),
        ("a!=1.5..2.5", cmp("a", "!=", Range(1.5, 2.5))),
        ("a==2024-01-01..2024-12-31", cmp("a", "==", Range("2024-01-01", "2024-12-31"))),
        ('a=="a".."m"', cmp("a", "==", Range("a", "m"))),
        ("a==1,2,3", cmp("a", "==", ValueList((1, 2, 3)))),
        ('a!="x","y",true,4.5', cmp("a", "!=", ValueList(("x", "y", True, 4.5)))),
        ("a~=^ab.*c$", cmp("a", "~=", "^ab.*c$")),
        ("a!~=(?i)hall", cmp("a", "!~=", "(?i)hall")),
        ("a~=x(y|z)", cmp("a", "~=", "x(y|z)")),
        ("a.b==1", cmp("a", "==", 1, subs=("b",))),
        ("a.b.c>2", cmp("a", ">", 2, subs=("b", "c"))),
        ("a.observedAt>=2024-01-01T00:00:00Z", cmp("a", ">=", "2024-01-01T00:00:00Z", subs=("observedAt",))),
        ("a[b]==1", cmp("a", "==", 1, members=("b",))),
        ("a[b.c]<2", cmp("a", "<", 2, members=("b", "c"))),
        ("a.s[m.n]!=3", cmp("a", "!=", 3, subs=("s",), members=("m", "n"))),
        ("ex:attr==1", cmp("ex:attr", "==", 1)),
        ("a;b", And((cmp("a"), cmp("b")))),
        ("a|b", Or((cmp("a"), cmp("b")))),
        ("a;b;c", And((cmp("a"), cmp("b"), cmp("c")))),
        ("a;b|c", Or((And((cmp("a"), cmp("b"))), cmp("c")))),
        ("a|b;c", Or((cmp("a"), And((cmp("b"), cmp("c")))))),
        ("(a|b);c", And((Or((cmp("a"), cmp("b"))), cmp("c")))),
        ("((a))", cmp("a")),
        ("(a~=x);b==1", And((cmp("a", "~=", "x"), cmp("b", "==", 1)))),
        ("a~=x;b~=y|c", Or((And((cmp("a", "~=", "x"), cmp("b", "~=", "y"))), cmp("c")))),
    ],
)
def test_parse(text: str, ast: qlang.Node) -> None:
    assert parse(text) == ast
    assert parse(render(ast)) == ast


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "a==", "==1", "a>", "(a", "a)", "a==1)", "(a==1", "a;;b", "a||b", "a;", "|a", "a[b", "a[]==1",
        "a==,", "a b", "a===1", "a==1;", "a!1",
    ],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(BadRequestData) as exc:
        parse(text)
    assert "invalid q" in exc.value.detail
    assert exc.value.status == 400


# --- round trip ------------------------------------------------------------------------------------------
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
NAME = st.builds(str.__add__, st.sampled_from(LETTERS), st.text(alphabet=LETTERS + "0123456789_", max_size=7))
DATE = st.dates().map(lambda d: d.isoformat())
DATETIME = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
SCALAR = st.one_of(
    st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=12),
    DATE,
    DATETIME,
    st.builds("urn:ngsi-ld:{}:{}".format, NAME, st.integers(0, 999)),
)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


REGEX = st.text(alphabet="^$ab01.*+?", min_size=1, max_size=8).filter(_compiles)
PATH = st.builds(AttrPath, NAME, st.lists(NAME, max_size=2).map(tuple), st.lists(NAME, max_size=2).map(tuple))
COMPARISON = st.one_of(
    st.builds(Comparison, PATH),
    st.builds(Comparison, PATH, st.sampled_from(["==", "!=", ">", "<", ">=", "<="]), SCALAR),
    st.builds(Comparison, PATH, st.sampled_from(["==", "!="]), st.builds(Range, SCALAR, SCALAR)),
    st.builds(Comparison, PATH, st.sampled_from(["==", "!="]),
              st.lists(SCALAR, min_size=2, max_size=4).map(lambda xs: ValueList(tuple(xs)))),
    st.builds(Comparison, PATH, st.sampled_from(["~=", "!~="]), REGEX),
)
NODE = st.recursive(
    COMPARISON,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda ts: And(tuple(ts))),
        st.lists(inner, min_size=2, max_size=3).map(lambda ts: Or(tuple(ts))),
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(NODE)
def test_render_then_parse_gives_the_same_ast(node: qlang.Node) -> None:
    text = render(node)
    assert parse(text) == node, text


@given(st.text(alphabet="ab1.;|()[]=!<>~\"-:T", max_size=25))
def test_parse_only_raises_bad_request(text: str) -> None:
    try:
        node = parse(text)
    except BadRequestData:
        return
    assert parse(render(node)) == node


# --- evaluation ---------------------------------------------------------------------------------------------
ENTITY = new_entity(parse_entity({
    "id": "urn:ngsi-ld:Room:7",
    "type": "Room",
    "temperature": {"type": "Property", "value": 21.5, "observedAt": "2024-03-01T12:00:00Z",
                    "accuracy": {"type": "Property", "value": 0.5}},
    "count": 12,
    "open": True,
    "name": "Main hall",
    "opening": {"type": "Property", "value": "08:30:00"},
    "since": {"type": "Property", "value": "2020-05-17"},
    "address": {"type": "Property", "value": {"city": "Nice", "zip": {"code": "06000"}}},
    "tags": {"type": "Property", "value": ["quiet", "sunny"]},
    "building": {"type": "Relationship", "object": "urn:ngsi-ld:Building:B"},
    "label": {"type": "LanguageProperty", "languageMap": {"en": "Hall", "fr": "Salle"}},
    "category": {"type": "VocabProperty", "vocab": "office"},
}, TM), "2024-01-01T00:00:00.000Z")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("temperature", True),
        ("humidity", False),
        ("temperature==21.5", True),
        ("temperature==21", False),
        ("temperature!=21", True),
        ("temperature>21", True),
        ("temperature>21.5", False),
        ("temperature>=21.5", True),
        ("temperature<22", True),
        ("temperature<=21", False),
        ("count==12", True),
        ("count==10..15", True),
        ("count==13..15", False),
        ("count!=13..15", True),
        ("count==1,12,99", True),
        ("count==1,2", False),
        ("count!=1,2", True),
        ("open==true", True),
        ("open==false", False),
        ("open!=false", True),
        ('name=="Main hall"', True),
        ('name=="main hall"', False),
        ("name~=^Main", True),
        ("name~=(?i)^main", True),
        ("name~=^hall", False),
        ("name!~=^hall", True),
        ('name>"A"', True),
        ('name=="A".."N"', True),
        ("opening>=08:00", True),
        ("since>2020-01-01", True),
        ("since==2020-01-01..2020-12-31", True),
        ("since<2020-01-01", False),
        ("temperature.observedAt>=2024-01-01T00:00:00Z", True),
        ("temperature.observedAt<2024-01-01T00:00:00Z", False),
        ("temperature.accuracy==0.5", True),
        ("temperature.accuracy>1", False),
        ("temperature.nothing==1", False),
        ('address[city]=="Nice"', True),
        ('address[zip.code]=="06000"', True),
        ('address[zip.code]=="06100"', False),
        ("address[country]", False),
        ('tags=="sunny"', True),
        ('tags=="rainy"', False),
        ("building==urn:ngsi-ld:Building:B", True),
        ('building=="urn:ngsi-ld:Building:B"', True),
        ("building==urn:ngsi-ld:Building:C", False),
        ('label=="Salle"', True),
        ("category==office", False),  # the stored vocab is an IRI; without expandValues a term does not match
        ('category=="office"', False),
        ("count==12;open==true", True),
        ("count==12;open==false", False),
        ("count==0|open==true", True),
        ("(count==0|open==false);name", False),
        ("count==0|(open==true;name~=hall)", True),
        ("id==urn:ngsi-ld:Room:7", True),
        ("temperature==\"21.5\"", False),
        ("name>5", False),
        ("open>0", False),
    ],
)
def test_matcher(q: str, expected: bool) -> None:
    assert qlang.Matcher(parse(q), TM)(ENTITY) is expected


@pytest.mark.parametrize("q", ["category==office", 'category=="office"', "category==office,home"])
def test_expand_values_expands_the_query_terms_of_those_attributes(q: str) -> None:
    assert qlang.Matcher(parse(q), TM, frozenset({"category"}))(ENTITY) is True
    assert qlang.Matcher(parse(q), TM, frozenset({"other"}))(ENTITY) is False


def test_matcher_with_full_iri_names() -> None:
    assert qlang.Matcher(parse("count==12"), TM)(ENTITY)
    node = cmp(DEFAULT_VOCAB + "count", "==", 12)
    assert qlang.Matcher(node, TM)(ENTITY)
