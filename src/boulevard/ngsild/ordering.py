"""Entity ordering (clause 4.23): ``orderBy``, ``orderFrom`` and ``collation``.

``orderBy=temperature;desc,name`` sorts by each term in turn; a term is an
attribute path as in q (``address[city]``, ``id``) with ``asc`` (default),
``desc``, ``dist-asc`` or ``dist-desc`` (distance in metres from ``orderFrom``).
Values compare numbers before strings before booleans before anything else,
and an entity without the value comes last whatever the direction (4.23.2).
Strings compare by code point, or accent- and case-insensitively first under a
``collation`` (a BCP 47 tag).
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

import orjson
from shapely.geometry import Point, shape

from boulevard.errors import BadRequestData
from boulevard.ngsild import qlang
from boulevard.ngsild.context import TermMap
from boulevard.ngsild.geoquery import distance_m, geometries_of
from boulevard.ngsild.model import Entity, check_geometry

DIRECTIONS = ("asc", "desc", "dist-asc", "dist-desc")
_BCP47 = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Term:
    path: qlang.AttrPath
    direction: str


@dataclass(frozen=True)
class Ordering:
    terms: tuple[Term, ...]
    origin: Point | None
    collation: str | None
    tm: TermMap

    def first(self, entities: Iterable[Entity], n: int) -> list[Entity]:
        """The first ``n`` entities in this order, holding no more than ``n`` at a time
        (a query over a whole type must not sort every entity of it in memory)."""
        keyed = ((self._keys(e), e) for e in entities)
        return [e for _, e in heapq.nsmallest(n, keyed, key=cmp_to_key(self._compare_keyed))]

    def _compare_keyed(self, a: tuple[list[Any], Entity], b: tuple[list[Any], Entity]) -> int:
        return self._compare(a[0], b[0])

    def _keys(self, entity: Entity) -> list[Any]:
        out: list[Any] = []
        for term in self.terms:
            if term.direction.startswith("dist"):
                origin = self.origin
                assert origin is not None  # parse_ordering requires orderFrom for distances
                dists = [distance_m(g, origin) for g in geometries_of(entity, self.tm.expand(term.path.attr))]
                out.append(min(dists) if dists else None)
            else:
                out.append(_first(qlang.Matcher(qlang.Comparison(term.path), self.tm).values(entity)))
        return out

    def _compare(self, a: list[Any], b: list[Any]) -> int:
        for term, x, y in zip(self.terms, a, b, strict=True):
            if x is None or y is None:  # absent: last in either direction
                if x is None and y is None:
                    continue
                return 1 if x is None else -1
            c = self._cmp_values(x, y)
            if c:
                return -c if term.direction in ("desc", "dist-desc") else c
        return 0

    def _cmp_values(self, x: Any, y: Any) -> int:
        rx, ry = _rank(x), _rank(y)
        if rx != ry:
            return -1 if rx < ry else 1
        if rx == 1 and self.collation is not None:
            kx, ky = (_fold(x), x), (_fold(y), y)
            return (kx > ky) - (kx < ky)
        if rx == 3:
            x, y = orjson.dumps(x, option=orjson.OPT_SORT_KEYS), orjson.dumps(y, option=orjson.OPT_SORT_KEYS)
        return int(x > y) - int(x < y)


def _rank(v: Any) -> int:
    if isinstance(v, bool):
        return 2
    if isinstance(v, (int, float)):
        return 0
    if isinstance(v, str):
        return 1
    return 3


def _fold(text: str) -> str:
    """Accents and case set aside: 'Ähre' ranks with 'ahre' (a root collation's first level)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def _first(values: list[Any]) -> Any:
    for v in values:
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, dict) and "@value" in v:
            v = v["@value"]
        if v is not None:
            return v
    return None


def parse_ordering(
    order_by: str | list[str], order_from: Any, collation: str | None, tm: TermMap, *, geometry: str | None = None
) -> Ordering:
    """Validate orderBy (text or array), orderFrom (coordinates, JSON text or array) and collation."""
    items = order_by if isinstance(order_by, list) else order_by.split(",")
    if not items or not all(isinstance(i, str) and i.strip() for i in items):
        raise BadRequestData(f"invalid orderBy {order_by!r}")
    terms = []
    for item in items:
        path_text, _, direction = item.strip().partition(";")
        direction = direction or "asc"
        if direction not in DIRECTIONS:
            raise BadRequestData(f"invalid orderBy direction {direction!r}; one of {', '.join(DIRECTIONS)}")
        try:
            node = qlang.parse(path_text)
        except BadRequestData as exc:
            raise BadRequestData(f"invalid orderBy path {path_text!r}") from exc
        if not isinstance(node, qlang.Comparison) or node.op is not None:
            raise BadRequestData(f"invalid orderBy path {path_text!r}")
        terms.append(Term(node.path, direction))
    origin = None
    if any(t.direction.startswith("dist") for t in terms):
        if order_from is None:
            raise BadRequestData("ordering by distance needs the reference coordinates (orderFrom)")
        if isinstance(order_from, str):
            try:
                order_from = orjson.loads(order_from)
            except orjson.JSONDecodeError as exc:
                raise BadRequestData("orderFrom must be a JSON array of coordinates") from exc
        if not isinstance(order_from, list):
            raise BadRequestData("orderFrom must be an array of coordinates")
        geom = shape(check_geometry({"type": geometry or "Point", "coordinates": order_from}))
        origin = geom if isinstance(geom, Point) else geom.centroid
    if collation is not None and (not isinstance(collation, str) or not _BCP47.match(collation)):
        raise BadRequestData(f"invalid collation {collation!r}: a BCP 47 language tag is expected")
    return Ordering(tuple(terms), origin, collation, tm)
