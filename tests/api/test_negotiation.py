"""Content negotiation of clause 6.3 as pure functions: Accept, Content-Type, Link."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boulevard.api import negotiation as neg
from boulevard.errors import BadRequestData, NotAcceptable, UnsupportedMediaType

JSON, LD, GEO = neg.JSON, neg.JSON_LD, neg.GEO_JSON
REL = "http://www.w3.org/ns/json-ld#context"


@pytest.mark.parametrize(
    ("accept", "available", "expected"),
    [
        (None, neg.PLAIN_MEDIA, JSON),
        ("", neg.PLAIN_MEDIA, JSON),
        ("   ", neg.ENTITY_MEDIA, JSON),
        ("application/json", neg.PLAIN_MEDIA, JSON),
        ("application/ld+json", neg.PLAIN_MEDIA, LD),
        ("APPLICATION/LD+JSON", neg.PLAIN_MEDIA, LD),
        ("*/*", neg.ENTITY_MEDIA, JSON),
        ("application/*", neg.ENTITY_MEDIA, JSON),
        ("application/geo+json", neg.ENTITY_MEDIA, GEO),
        ("application/json;q=0.1, application/ld+json;q=0.9", neg.PLAIN_MEDIA, LD),
        ("application/ld+json;q=0.5, */*;q=0.9", neg.PLAIN_MEDIA, JSON),
        # the more specific range decides the weight of a type
        ("application/json;q=0.2, */*", neg.PLAIN_MEDIA, LD),
        ("text/html, application/ld+json;q=0.3", neg.PLAIN_MEDIA, LD),
        # equal weights: the order of clause 6.3.4 breaks the tie
        ("application/ld+json, application/json", neg.PLAIN_MEDIA, JSON),
        ("application/geo+json, application/ld+json", neg.ENTITY_MEDIA, LD),
        # a malformed q counts as 1
        ("application/ld+json;q=abc, application/json;q=0.5", neg.PLAIN_MEDIA, LD),
        ("application/ld+json;q=7, application/json;q=0.5", neg.PLAIN_MEDIA, LD),
        ("application/json; charset=utf-8", neg.PLAIN_MEDIA, JSON),
    ],
)
def test_negotiate(accept: str | None, available: tuple[str, ...], expected: str) -> None:
    assert neg.negotiate(accept, available) == expected


@pytest.mark.parametrize(
    ("accept", "available"),
    [
        ("text/html", neg.PLAIN_MEDIA),
        ("application/geo+json", neg.PLAIN_MEDIA),
        ("application/json;q=0", neg.PLAIN_MEDIA),
        ("*/*;q=0", neg.ENTITY_MEDIA),
        ("garbage", neg.PLAIN_MEDIA),
        (",,,", neg.PLAIN_MEDIA),
        ("text/*", neg.ENTITY_MEDIA),
    ],
)
def test_negotiate_not_acceptable(accept: str, available: tuple[str, ...]) -> None:
    with pytest.raises(NotAcceptable) as exc:
        neg.negotiate(accept, available)
    assert exc.value.status == 406


@given(st.text(max_size=60))
def test_negotiate_total(accept: str) -> None:
    """Any header string gives one of the available types or NotAcceptable, nothing else."""
    with contextlib.suppress(NotAcceptable):
        assert neg.negotiate(accept, neg.ENTITY_MEDIA) in neg.ENTITY_MEDIA


@pytest.mark.parametrize(
    ("ctype", "merge", "expected"),
    [
        ("application/json", False, JSON),
        ("application/ld+json", False, LD),
        ("Application/JSON; charset=utf-8", False, JSON),
        ("application/merge-patch+json", True, neg.MERGE_PATCH),
        ("application/json", True, JSON),
    ],
)
def test_check_content_type_accepts(ctype: str, merge: bool, expected: str) -> None:
    assert neg.check_content_type(ctype, merge_patch=merge) == expected


@pytest.mark.parametrize(
    ("ctype", "merge"),
    [
        (None, False),
        ("", False),
        ("text/plain", False),
        ("application/merge-patch+json", False),
        ("application/geo+json", False),
        ("multipart/form-data", True),
    ],
)
def test_check_content_type_rejects(ctype: str | None, merge: bool) -> None:
    with pytest.raises(UnsupportedMediaType) as exc:
        neg.check_content_type(ctype, merge_patch=merge)
    assert exc.value.status == 415


def test_media_type() -> None:
    assert neg.media_type(" Application/LD+JSON ; charset=utf-8") == LD
    assert neg.media_type(None) == ""


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        (f'<http://x.org/c.jsonld>; rel="{REL}"; type="application/ld+json"', "http://x.org/c.jsonld"),
        (f"<http://x.org/c.jsonld>; rel={REL}", "http://x.org/c.jsonld"),
        (f'<http://x.org/c.jsonld> ; rel = "{REL}"', "http://x.org/c.jsonld"),
        ('<http://x.org/other>; rel="alternate"', None),
        (f'<http://x.org/a>; rel="alternate", <http://x.org/c.jsonld>; rel="{REL}"', "http://x.org/c.jsonld"),
    ],
)
def test_parse_link_context(header: str | None, expected: str | None) -> None:
    assert neg.parse_link_context(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        f'<http://x.org/a>; rel="{REL}", <http://x.org/b>; rel="{REL}"',
        f'<>; rel="{REL}"',
    ],
)
def test_parse_link_context_errors(header: str) -> None:
    with pytest.raises(BadRequestData):
        neg.parse_link_context(header)


@given(st.from_regex(r"https?://[a-z]{1,10}\.[a-z]{2,3}/[a-z0-9/._-]{0,20}", fullmatch=True))
def test_link_header_round_trip(url: str) -> None:
    header = neg.link_header(url)
    assert neg.parse_link_context(header) == url
    assert 'type="application/ld+json"' in header
