"""Geo-queries: parsing of georel/geometry/coordinates and each relation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from shapely.geometry import LineString, Point

from boulevard.errors import BadRequestData
from boulevard.ngsild.context import ContextCache, TermMap
from boulevard.ngsild.geoquery import DEFAULT_GEOPROPERTY, distance_m, haversine_m, parse_geoquery
from boulevard.ngsild.model import parse_entity


@pytest.fixture(scope="module")
def tm() -> TermMap:
    return asyncio.run(ContextCache().term_map(None))


def entity(tm: TermMap, geometry: dict[str, Any], prop: str = "location") -> dict[str, Any]:
    return parse_entity(
        {"id": "urn:ngsi-ld:Spot:1", "type": "Spot", prop: {"type": "GeoProperty", "value": geometry}}, tm
    )


SQUARE = [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]
HOLED = [SQUARE[0], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]


@pytest.mark.parametrize(
    ("georel", "geometry", "coords", "target", "expected"),
    [
        ("within", "Polygon", SQUARE, {"type": "Point", "coordinates": [2, 2]}, True),
        ("within", "Polygon", HOLED, {"type": "Point", "coordinates": [5, 5]}, False),  # in the hole
        ("within", "Polygon", HOLED, {"type": "Point", "coordinates": [2, 2]}, True),
        ("contains", "Point", [2, 2], {"type": "Polygon", "coordinates": SQUARE}, True),
        ("contains", "Point", [20, 2], {"type": "Polygon", "coordinates": SQUARE}, False),
        ("intersects", "LineString", [[-5, 5], [5, 5]], {"type": "Polygon", "coordinates": SQUARE}, True),
        ("intersects", "LineString", [[-5, 5], [-1, 5]], {"type": "Polygon", "coordinates": SQUARE}, False),
        ("disjoint", "LineString", [[-5, 5], [-1, 5]], {"type": "Polygon", "coordinates": SQUARE}, True),
        ("overlaps", "Polygon", [[[5, 5], [15, 5], [15, 15], [5, 15], [5, 5]]],
         {"type": "Polygon", "coordinates": SQUARE}, True),
        ("overlaps", "Polygon", SQUARE, {"type": "Polygon", "coordinates": SQUARE}, False),
        ("equals", "Point", [8, 40], {"type": "Point", "coordinates": [8, 40]}, True),
        ("equals", "Point", [8, 40.0001], {"type": "Point", "coordinates": [8, 40]}, False),
        ("near;maxDistance==2000", "Point", [8, 40], {"type": "Point", "coordinates": [8.01, 40]}, True),  # ~852 m
        ("near;maxDistance==500", "Point", [8, 40], {"type": "Point", "coordinates": [8.01, 40]}, False),
        ("near;minDistance==500", "Point", [8, 40], {"type": "Point", "coordinates": [8.01, 40]}, True),
        ("near;minDistance==2000", "Point", [8, 40], {"type": "Point", "coordinates": [8.01, 40]}, False),
    ],
)
def test_relations(
    tm: TermMap, georel: str, geometry: str, coords: Any, target: dict[str, Any], expected: bool
) -> None:
    gq = parse_geoquery(georel, geometry, coords, None, tm)
    assert gq is not None
    assert gq.matches(entity(tm, target)) is expected


def test_coordinates_come_as_json_text_from_a_query_string(tm: TermMap) -> None:
    gq = parse_geoquery("near;maxDistance==1000", "Point", "[8,40]", None, tm)
    assert gq is not None and gq.reference.equals(Point(8, 40))


def test_geoproperty_selects_the_target_and_others_do_not_match(tm: TermMap) -> None:
    e = entity(tm, {"type": "Point", "coordinates": [8, 40]}, prop="observationSpace")
    default = parse_geoquery("near;maxDistance==10", "Point", [8, 40], None, tm)
    named = parse_geoquery("near;maxDistance==10", "Point", [8, 40], "observationSpace", tm)
    assert default is not None and named is not None
    assert default.geoproperty == DEFAULT_GEOPROPERTY
    assert not default.matches(e)
    assert named.matches(e)


@pytest.mark.parametrize(
    ("georel", "geometry", "coords"),
    [
        ("near;maxDistance==0", "Point", [8, 40]),
        ("near;maxDistance==-100", "Point", [8, 40]),
        ("near;maxDistance==5;minDistance==1", "Point", [8, 40]),
        ("near", "Point", [8, 40]),
        ("near;maxDistance==inf", "Point", [8, 40]),
        ("near;maxDistance==1e400", "Point", [8, 40]),
        ("touches", "Point", [8, 40]),
        ("within", "Circle", [8, 40]),
        ("within", "Polygon", [[[0, 0], [1, 1]]]),  # not a closed ring
        ("within", "Point", "[8,"),
        ("within", None, [8, 40]),
    ],
)
def test_bad_geoqueries_are_rejected(tm: TermMap, georel: str, geometry: str | None, coords: Any) -> None:
    with pytest.raises(BadRequestData):
        parse_geoquery(georel, geometry, coords, None, tm)


def test_no_geoquery_is_none(tm: TermMap) -> None:
    assert parse_geoquery(None, None, None, None, tm) is None


def test_haversine_matches_known_distances() -> None:
    # one degree of latitude is ~111.2 km; Paris-London ~343.5 km
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(2.3522, 48.8566, -0.1276, 51.5072) == pytest.approx(343_500, rel=5e-3)


def test_distance_to_an_extended_geometry_is_to_its_closest_point() -> None:
    # a point one degree of latitude (~111 km) north of the middle of a 10-degree line at lat 60
    d = distance_m(Point(5, 61), LineString([(0, 60), (10, 60)]))
    assert d == pytest.approx(111_195, rel=0.01)
    # at high latitude a degree of longitude is short: [0,85] to the point [1,85] is ~9.7 km
    assert distance_m(Point(0, 85), Point(1, 85)) == pytest.approx(9_690, rel=0.01)
