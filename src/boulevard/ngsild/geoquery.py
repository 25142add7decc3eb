"""Geo-queries (GS CIM 009 clause 4.10): parse georel/geometry/coordinates, match entities.

Relations are evaluated with shapely 2 on the GeoJSON stored in the target
GeoProperty (``location`` unless ``geoproperty`` names another). ``near`` is
measured in metres on the sphere: the candidate geometry is projected onto an
azimuthal equidistant plane centred on the reference (or, for an extended
reference, on the candidate point), where distances from the centre are exact;
edges are densified first, as GeoJSON edges are straight in lon/lat.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from boulevard.errors import BadRequestData
from boulevard.ngsild.context import TermMap
from boulevard.ngsild.model import Entity, check_geometry, check_name
from boulevard.storage.base import GeoBox

EARTH_RADIUS_M = 6_371_008.8
SEGMENT_DEGREES = 0.05  # longest edge kept straight when projecting (about 5.5 km)
RELATIONS = ("near", "within", "contains", "intersects", "overlaps", "disjoint", "equals")
DEFAULT_GEOPROPERTY = "https://uri.etsi.org/ngsi-ld/location"
_NEAR = re.compile(r"^near;(maxDistance|minDistance)==(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)$")

_PREDICATES: dict[str, Callable[[BaseGeometry, BaseGeometry], bool]] = {
    "within": lambda g, ref: bool(g.within(ref)),
    "contains": lambda g, ref: bool(g.contains(ref)),
    "intersects": lambda g, ref: bool(g.intersects(ref)),
    "overlaps": lambda g, ref: bool(g.overlaps(ref)),
    "disjoint": lambda g, ref: bool(g.disjoint(ref)),
    "equals": lambda g, ref: bool(g.equals(ref)),
}


@dataclass(frozen=True)
class GeoQuery:
    relation: str  # one of RELATIONS
    reference: BaseGeometry  # the query geometry, lon/lat degrees
    geoproperty: str  # expanded IRI of the target GeoProperty
    max_distance: float | None = None  # metres, near only
    min_distance: float | None = None

    def box(self) -> GeoBox | None:
        """A bounding box every match meets, for the spatial index; None when there is none."""
        if self.relation == "disjoint" or self.min_distance is not None:
            return None  # matches lie outside the reference: nothing to bound
        min_lon, min_lat, max_lon, max_lat = self.reference.bounds
        if self.max_distance is not None:
            dlat = math.degrees(self.max_distance / EARTH_RADIUS_M)
            min_lat, max_lat = min_lat - dlat, max_lat + dlat
            widest = max(abs(min_lat), abs(max_lat))
            if widest >= 89.0:
                min_lon, max_lon = -180.0, 180.0
            else:
                dlon = dlat / math.cos(math.radians(widest))
                min_lon, max_lon = min_lon - dlon, max_lon + dlon
                if min_lon < -180.0 or max_lon > 180.0:
                    min_lon, max_lon = -180.0, 180.0  # crosses the antimeridian: do not bound longitude
        return GeoBox(self.geoproperty, min_lon, min_lat, max_lon, max_lat)

    def matches(self, entity: Entity) -> bool:
        """True when any instance of the target GeoProperty satisfies the relation."""
        if self.relation == "near" and isinstance(self.reference, Point):
            # the common case, point to point, needs no geometry objects
            points = _points_of(entity, self.geoproperty)
            if points is not None:
                rx, ry = self.reference.x, self.reference.y
                return any(self._within_distance(haversine_m(x, y, rx, ry)) for x, y in points)
        return any(self._test(g) for g in geometries_of(entity, self.geoproperty))

    def _within_distance(self, dist: float) -> bool:
        if self.max_distance is not None:
            return dist <= self.max_distance
        assert self.min_distance is not None
        return dist >= self.min_distance

    def _test(self, geom: BaseGeometry) -> bool:
        if self.relation != "near":
            return _PREDICATES[self.relation](geom, self.reference)
        return self._within_distance(distance_m(geom, self.reference))


def parse_geoquery(
    georel: str | None,
    geometry: str | None,
    coordinates: Any,
    geoproperty: str | None,
    tm: TermMap,
) -> GeoQuery | None:
    """Validate the geo-query members (from query parameters or a body's geoQ)."""
    if georel is None and geometry is None and coordinates is None:
        if geoproperty is not None:
            check_name(geoproperty, "geoproperty")
        return None
    if georel is None or geometry is None or coordinates is None:
        raise BadRequestData("a geo-query needs georel, geometry and coordinates together")
    if not isinstance(georel, str) or not isinstance(geometry, str):
        raise BadRequestData("georel and geometry must be strings")
    max_d = min_d = None
    if georel.startswith("near"):
        m = _NEAR.match(georel)
        if m is None:
            raise BadRequestData(
                f"invalid georel {georel!r}: near needs exactly one of maxDistance==N or minDistance==N"
            )
        value = float(m.group(2))
        if not math.isfinite(value) or value <= 0:
            raise BadRequestData(f"invalid georel {georel!r}: the distance must be a positive finite number")
        if m.group(1) == "maxDistance":
            max_d = value
        else:
            min_d = value
        relation = "near"
    elif georel in RELATIONS:
        relation = georel
    else:
        raise BadRequestData(f"invalid georel {georel!r}; one of {', '.join(RELATIONS)}")
    if isinstance(coordinates, str):
        try:
            coordinates = orjson.loads(coordinates)
        except orjson.JSONDecodeError as exc:
            raise BadRequestData(f"coordinates must be a JSON array: {coordinates!r}") from exc
    geojson = check_geometry({"type": geometry, "coordinates": coordinates})
    try:
        reference = shape(geojson)
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise BadRequestData(f"invalid {geometry} geometry: {exc}") from exc
    prop = DEFAULT_GEOPROPERTY if geoproperty is None else tm.expand(check_name(geoproperty, "geoproperty"))
    return GeoQuery(relation, reference, prop, max_d, min_d)


def _points_of(entity: Entity, prop: str) -> list[tuple[float, float]] | None:
    """The target's positions when every GeoProperty instance of it is a Point, else None."""
    out = []
    for inst in entity["attrs"].get(prop, ()):
        value = inst.get("value")
        if inst.get("type") != "GeoProperty" or not isinstance(value, dict):
            continue
        coords = value.get("coordinates")
        if value.get("type") != "Point" or not isinstance(coords, list) or len(coords) < 2:
            return None
        out.append((float(coords[0]), float(coords[1])))
    return out


def geometries_of(entity: Entity, prop: str) -> Iterator[BaseGeometry]:
    for inst in entity["attrs"].get(prop, ()):
        value = inst.get("value")
        if inst.get("type") != "GeoProperty" or not isinstance(value, dict):
            continue
        try:
            yield shape(value)
        except (ValueError, TypeError, shapely.errors.ShapelyError):
            continue


# --- distances on the sphere ---------------------------------------------------------
def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _project(geom: BaseGeometry, lon0: float, lat0: float) -> BaseGeometry:
    """Azimuthal equidistant projection centred on (lon0, lat0), in metres."""
    p0 = math.radians(lat0)
    sin_p0, cos_p0 = math.sin(p0), math.cos(p0)

    def one(coords: Any) -> Any:
        out = []
        for lon, lat, *_ in coords:
            d = haversine_m(lon0, lat0, lon, lat)
            p, dl = math.radians(lat), math.radians(lon - lon0)
            bearing = math.atan2(math.sin(dl) * math.cos(p), cos_p0 * math.sin(p) - sin_p0 * math.cos(p) * math.cos(dl))
            out.append((d * math.sin(bearing), d * math.cos(bearing)))
        return out

    # GeoJSON edges are straight in lon/lat (RFC 7946 3.1.1): densify them first so that
    # they keep that shape on the projection plane
    dense = shapely.segmentize(geom, SEGMENT_DEGREES) if geom.geom_type != "Point" else geom
    return shapely.transform(dense, lambda arr: _as_array(one(arr.tolist())))


def _as_array(rows: list[tuple[float, float]]) -> Any:
    import numpy as np  # shapely depends on numpy

    return np.asarray(rows, dtype=float).reshape(-1, 2)


def distance_m(geom: BaseGeometry, reference: BaseGeometry) -> float:
    """Shortest distance in metres between two lon/lat geometries."""
    if isinstance(geom, Point) and isinstance(reference, Point):
        return haversine_m(geom.x, geom.y, reference.x, reference.y)
    # centre the projection on a point geometry so that distances to it are exact
    centre = (
        reference if isinstance(reference, Point) else geom if isinstance(geom, Point) else reference.centroid
    )
    lon0, lat0 = centre.x, centre.y
    return float(_project(geom, lon0, lat0).distance(_project(reference, lon0, lat0)))
