"""HTTP binding of the entity operations (clauses 6.4, 6.5, 6.6, 6.7)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from boulevard.api import negotiation as neg
from boulevard.api.request import NgsiRequest, parse_int, read_request
from boulevard.api.responses import empty_response, json_response, ngsi_response
from boulevard.api.services import Services, services
from boulevard.api.views import amend_for_version, show, to_feature, view_of
from boulevard.errors import BadRequestData, InvalidRequest, NgsiLdError, ResourceNotFound
from boulevard.ngsild import mutate, qlang
from boulevard.ngsild.geoquery import parse_geoquery
from boulevard.ngsild.model import (
    ENTITY_RESERVED,
    VALUE_MEMBER,
    Entity,
    Instance,
    check_name,
    check_uri,
    looks_like_geometry,
    parse_attribute,
    parse_entity,
    parse_instance,
)
from boulevard.ngsild.ordering import parse_ordering
from boulevard.ngsild.selection import EntitySelection, build_selection, combine

RETRIEVE_PARAMS = (
    "type", "attrs", "pick", "omit", "options", "format", "lang", "geometryProperty", "local", "join",
    "joinLevel", "containedBy", "datasetId", "entityMap", "via",
)
QUERY_PARAMS = (
    *RETRIEVE_PARAMS, "id", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates", "geoproperty",
    "csf", "limit", "offset", "count", "expandValues", "doNotCompact", "orderBy", "orderFrom", "collation",
)
PURGE_PARAMS = ("id", "type", "idPattern", "q", "scopeQ", "attrs", "keep", "drop", "local", "georel",
                "geometry", "coordinates", "geoproperty", "csf", "lang")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def type_gate(req: NgsiRequest) -> tuple[str, ...] | None:
    """The optional ?type= of single-entity operations: the entity must have one."""
    names = req.list_param("type")
    if names is None:
        return None
    return tuple(req.tm.expand(check_name(n, "entity type")) for n in names)


def entity_id_of(request: Request) -> str:
    eid: str = request.path_params["entity_id"]
    return check_uri(eid, "entity id")


def location(entity_id: str) -> str:
    return f"/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}"


def selection_of(req: NgsiRequest) -> EntitySelection:
    """The entities named by type, id, idPattern, q and attrs parameters."""
    p = req.params
    return build_selection(
        req.tm,
        type_expr=None if p.get("type") == "*" else p.get("type"),
        ids=req.list_param("id"),
        id_pattern=p.get("idPattern"),
        q=p.get("q"),
        attrs=req.names_param("attrs"),
        geo=parse_geoquery(p.get("georel"), p.get("geometry"), p.get("coordinates"), p.get("geoproperty"), req.tm),
        scope_q=p.get("scopeQ"),
        expand_values=frozenset(req.names_param("expandValues") or ()),
    )


# --- handlers ---------------------------------------------------------------------
async def create_entity(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local",), body=True)
    if not isinstance(req.body, dict):
        raise InvalidRequest("the body of create entity must be a JSON object")
    parsed = parse_entity(req.body, req.tm)
    await svc.broker.create_entity(req.tenant, parsed)
    return empty_response(201, {"Location": location(parsed["id"])}, req.tenant)


async def retrieve_entity(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=RETRIEVE_PARAMS, available=neg.ENTITY_MEDIA)
    entity_id = entity_id_of(request)
    view = view_of(req)
    entity = await svc.broker.retrieve_entity(req.tenant, entity_id, type_gate(req))
    shown = await show(svc, req, view, [entity])
    if not shown[0] and (view.pick is not None or view.omit is not None):
        raise ResourceNotFound(f"pick/omit leave nothing of entity {entity_id}")
    if view.opts.attrs is not None and not any(a in entity["attrs"] for a in view.opts.attrs):
        raise ResourceNotFound(f"entity {entity_id} has none of the attributes asked for")
    status, headers = _versioned(req, shown)
    headers.update(entity_map_header(svc, req, request, [entity["id"]]))
    if req.accept == neg.GEO_JSON:
        shown = [to_feature(out, req) for out in shown]
    # join=flat answers a list when it found linked entities, the entity alone otherwise
    return ngsi_response(req, shown if len(shown) > 1 else shown[0], status, headers)


def entity_map_header(svc: Services, req: NgsiRequest, request: Request, ids: list[str]) -> dict[str, str]:
    """entityMap=true or an NGSILD-EntityMap header (5.7.1.4): use the live map it names or make
    one, and answer its location."""
    ref = request.headers.get("ngsild-entitymap")
    if not req.bool_param("entityMap") and ref is None:
        return {}
    used = svc.broker.entity_maps.use(req.tenant, ref.rsplit("/", 1)[-1] if ref else None, ids)
    return {"NGSILD-EntityMap": f"{ENTITY_MAPS_PATH}/{used.id}"}


ENTITY_MAPS_PATH = "/ngsi-ld/v1/entityMaps"


async def retrieve_entity_map(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts)
    found = svc.broker.entity_maps.get(req.tenant, request.path_params["map_id"])
    if found is None:
        raise ResourceNotFound(f"no EntityMap {request.path_params['map_id']}")
    return json_response(found.as_json(), headers={"NGSILD-Tenant": req.tenant} if req.tenant else None)


async def delete_entity_map(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts)
    if not svc.broker.entity_maps.delete(req.tenant, request.path_params["map_id"]):
        raise ResourceNotFound(f"no EntityMap {request.path_params['map_id']}")
    return empty_response(204, tenant=req.tenant)


def _versioned(req: NgsiRequest, shown: list[dict[str, Any]]) -> tuple[int, dict[str, str]]:
    """Prefer: ngsi-ld=X.Y (4.3.6.8): amend for that version; 203 when the payload changed."""
    if req.version is None:
        return 200, {}
    changed = amend_for_version(shown, req.version)
    return (203 if changed else 200), {"Preference-Applied": f"ngsi-ld={req.version}"}


async def query_entities(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=QUERY_PARAMS, available=neg.ENTITY_MEDIA)
    p = req.params
    local = req.bool_param("local")
    if p.get("type") == "*":  # every type (4.17); not with local explicitly false
        if p.get("local") == "false":
            raise BadRequestData("type=* cannot be combined with local=false")
        local = True
    if "csf" in p:
        qlang.parse(p["csf"])  # same grammar as q; no context sources to filter yet
    sel = selection_of(req)
    # 5.7.2.4: types, attrs or q naming a non-system attribute, a geo-query, or local=true
    if not (sel.narrows or local or "georel" in p):
        raise BadRequestData(
            "query entities needs a type, a non-system attribute in attrs or q, a geo-query or local=true"
        )
    return await _answer_query(svc, req, sel, links_to=ENTITIES_PATH)


ENTITIES_PATH = "/ngsi-ld/v1/entities"


QUERY_BODY_MEMBERS = frozenset({
    "type", "entities", "attrs", "pick", "omit", "q", "geoQ", "scopeQ", "csf", "lang", "temporalQ", "@context",
    "id", "local", "join", "joinLevel", "datasetId", "containedBy", "orderBy", "coordinates", "geometry",
    "collation", "ordering",
})
POST_QUERY_PARAMS = ("limit", "offset", "count", "options", "format", "local", "lang", "geometryProperty", "csf")


async def query_entities_post(request: Request) -> Response:
    """POST /entityOperations/query (clause 5.7.2 with a Query body, 5.2.23)."""
    svc = services(request)
    req = await read_request(
        request, svc.contexts, allowed_params=POST_QUERY_PARAMS, body=True, available=neg.ENTITY_MEDIA
    )
    body = req.body
    if not isinstance(body, dict):
        raise BadRequestData("the body of a query must be a Query object")
    if body.get("type") != "Query":
        raise BadRequestData("a Query body has type 'Query'")
    unknown = set(body) - QUERY_BODY_MEMBERS
    if unknown:
        raise BadRequestData(f"unknown members in the Query: {', '.join(sorted(unknown))}")
    selectors = body.get("entities")
    if selectors is not None and (not isinstance(selectors, list) or not all(isinstance(x, dict) for x in selectors)):
        raise BadRequestData("entities must be an array of entity selectors")
    geo = body.get("geoQ")
    if geo is not None and not isinstance(geo, dict):
        raise BadRequestData("geoQ must be an object")
    params = dict(req.params)
    if "temporalQ" in body:
        raise BadRequestData("temporalQ belongs to the temporal query (/temporal/entityOperations/query)")
    if "joinLevel" in body and (not isinstance(body["joinLevel"], int) or body["joinLevel"] < 1):
        raise BadRequestData("joinLevel must be a positive integer")
    for name in ("attrs", "pick", "omit"):
        if name in body:
            params[name] = _text_list(body[name], name)
            if not params[name]:
                raise BadRequestData(f"{name} must not be empty")
    for name in ("q", "scopeQ", "lang", "csf", "join"):
        if name in body:
            if not isinstance(body[name], str):
                raise BadRequestData(f"{name} must be a string")
            params[name] = body[name]
    if "joinLevel" in body:
        params["joinLevel"] = str(body["joinLevel"])
    ordering_params = body.get("ordering")
    if ordering_params is not None:  # the orderBy/coordinates/geometry/collation group (5.2.43)
        if not isinstance(ordering_params, dict):
            raise BadRequestData("ordering must be an object")
        body = {**body, **ordering_params}
    order_by = body.get("orderBy")
    if order_by is not None:
        if isinstance(order_by, str):
            order_by = [order_by]
        if not isinstance(order_by, list) or not all(isinstance(o, str) for o in order_by):
            raise BadRequestData("orderBy must be an array of strings")
        if "coordinates" in body:
            if not isinstance(body["coordinates"], list):
                raise BadRequestData("coordinates must be an array")
            params["orderFrom"] = orjson.dumps(body["coordinates"]).decode()
        if "geometry" in body:
            if not isinstance(body["geometry"], str):
                raise BadRequestData("geometry must be a string")
            params["orderGeometry"] = body["geometry"]
    elif "geometry" in body and not isinstance(body["geometry"], str):
        raise BadRequestData("geometry must be a string")
    if "collation" in body:
        if not isinstance(body["collation"], str):
            raise BadRequestData("collation must be a string")
        params["collation"] = body["collation"]
    if not selectors and not any(k in params for k in ("q", "attrs", "scopeQ")) and geo is None:
        raise BadRequestData("a Query needs entities, attrs, q, geoQ or scopeQ")
    req.params = params
    sel = query_selection(req, params, selectors or [], geo)
    return await _answer_query(svc, req, sel, order_by=order_by)


def query_selection(req: NgsiRequest, params: dict[str, str], selectors: list[dict[str, Any]],
                    geo: dict[str, Any] | None) -> EntitySelection:
    """The entities a Query body names (5.2.23): q/attrs/scopeQ/geoQ shared by any of the
    entity selectors."""
    shared = build_selection(
        req.tm,
        q=params.get("q"),
        attrs=req.names_param("attrs"),
        scope_q=params.get("scopeQ"),
        geo=None if geo is None else parse_geoquery(
            geo.get("georel"), geo.get("geometry"), geo.get("coordinates"), geo.get("geoproperty"), req.tm
        ),
    )
    alternatives = []
    for sel in selectors:
        # EntitySelector (5.2.33): type is mandatory; id (one or several) wins over idPattern
        if not isinstance(sel.get("type"), str):
            raise BadRequestData("an entity selector needs a type")
        ids = sel.get("id")
        if ids is not None:
            ids = [ids] if isinstance(ids, str) else ids
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                raise BadRequestData("entity selector id must be a URI or an array of URIs")
        pattern = sel.get("idPattern")
        if pattern is not None and not isinstance(pattern, str):
            raise BadRequestData("entity selector idPattern must be a string")
        alternatives.append(build_selection(
            req.tm, type_expr=sel["type"], ids=ids, id_pattern=None if ids is not None else pattern
        ))
    return combine(shared, alternatives)


def _text_list(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise BadRequestData(f"{name} must be an array of strings")


async def _answer_query(
    svc: Services, req: NgsiRequest, sel: EntitySelection, *, links_to: str | None = None,
    order_by: list[str] | None = None,
) -> Response:
    """Run a query and answer one page; ``links_to``: the path for prev/next Link headers (4.12)."""
    p = req.params
    limit, offset, count = page_params(req)
    view = view_of(req)
    ordering = None
    if order_by is not None or "orderBy" in p:
        ordering = parse_ordering(
            order_by if order_by is not None else p["orderBy"], p.get("orderFrom"), p.get("collation"), req.tm,
            geometry=p.get("orderGeometry"),
        ).first
    elif "orderFrom" in p or "collation" in p:
        raise BadRequestData("orderFrom and collation only apply with orderBy")
    # one more than the page tells whether elements remain without counting them all
    page, total = await svc.broker.query_entities(
        req.tenant, sel, limit=limit + 1 if limit else 0, offset=offset, count=count, order=ordering
    )
    more = len(page) > limit
    page = page[:limit]
    body: Any = await show(svc, req, view, page)
    if view.pick is not None:  # an entity left with nothing picked is not listed
        body = [out for out in body if out]
    status, headers = _versioned(req, body)
    if total is not None:
        headers["NGSILD-Results-Count"] = str(total)
    if links_to is not None and limit > 0:
        links = []
        if offset > 0:
            links.append(_page_link(links_to, p, max(0, offset - limit), limit, "prev", req.accept))
        if more:
            links.append(_page_link(links_to, p, offset + limit, limit, "next", req.accept))
        if links:
            headers["Link"] = ", ".join(links)
    if req.accept == neg.GEO_JSON:
        body = {"type": "FeatureCollection", "features": [to_feature(out, req) for out in body]}
    return ngsi_response(req, body, status, headers)


def page_params(req: NgsiRequest) -> tuple[int, int, bool]:
    """limit, offset and count of a query (limit=0 only to count)."""
    limit = parse_int(req.params, "limit", DEFAULT_LIMIT, minimum=0, maximum=MAX_LIMIT)
    offset = parse_int(req.params, "offset", 0)
    count = req.bool_param("count")
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only allowed with count=true")
    return limit, offset, count


def _page_link(path: str, params: dict[str, str], offset: int, limit: int, rel: str, media: str) -> str:
    """A pagination link: the same query with another offset, parameters in name order."""
    query = {**params, "offset": str(offset), "limit": str(limit)}
    text = "&".join(f"{k}={quote(v, safe=_LINK_SAFE)}" for k, v in sorted(query.items()))
    return f'<{path}?{text}>; rel="{rel}";type="{media}"'


_LINK_SAFE = ":/*.-_~!$'()+=@[]|"


async def delete_entity(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local", "type"))
    await svc.broker.delete_entity(req.tenant, entity_id_of(request), type_gate(req))
    return empty_response(204, tenant=req.tenant)


async def purge_entities(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=PURGE_PARAMS)
    p = req.params
    keep, drop = req.list_param("keep"), req.list_param("drop")
    if keep is not None and drop is not None:
        raise BadRequestData("keep and drop cannot be used together")
    for name in ("q", "keep", "drop", "attrs"):
        if "{" in p.get(name, ""):
            raise BadRequestData("linked-entity paths are not allowed in purge")
    local = req.bool_param("local")
    sel = selection_of(req)
    if not sel.narrows and not local and "georel" not in p:
        raise BadRequestData("purge needs a type, a non-system attribute, a q over one, a geo-query or local=true")
    await svc.broker.purge_entities(
        req.tenant,
        sel,
        keep=None if keep is None else [req.tm.expand(k) for k in keep],
        drop=None if drop is None else [req.tm.expand(d) for d in drop],
    )
    return empty_response(204, tenant=req.tenant)


def _update_result(req: NgsiRequest, outcome: mutate.Outcome) -> Response:
    if not outcome.not_updated:
        return empty_response(204, tenant=req.tenant)
    body = {
        "updated": [req.tm.compact(a) for a in outcome.updated],
        "notUpdated": [{"attributeName": req.tm.compact(a), "reason": why} for a, why in outcome.not_updated],
    }
    return ngsi_response(req, body, 207)


def _fragment(req: NgsiRequest) -> dict[str, Any]:
    if not isinstance(req.body, dict):
        raise BadRequestData("the body must be a JSON object of attributes")
    return req.body


async def append_attrs(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("options", "local", "type"), body=True)
    entity_id = entity_id_of(request)
    body = _fragment(req)
    _check_fragment_id(body, entity_id)
    opts = req.options - {"noOverwrite"}
    if opts:
        raise BadRequestData(f"unknown options {sorted(opts)}")
    parsed = parse_entity(body, req.tm, require_id=False, require_type=False)
    if not parsed["attrs"] and not parsed.get("type") and not parsed.get("scope"):
        raise BadRequestData("nothing to append")
    outcome = await svc.broker.append_attrs(
        req.tenant, entity_id, parsed, overwrite="noOverwrite" not in req.options, types=type_gate(req)
    )
    return _update_result(req, outcome)


async def update_attrs(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("options", "local", "type"), body=True)
    entity_id = entity_id_of(request)
    body = _fragment(req)
    _check_fragment_id(body, entity_id)
    parsed = parse_entity(body, req.tm, require_id=False, require_type=False, nulls=True)
    if not parsed["attrs"] and not parsed.get("type") and "scope" not in parsed:
        raise BadRequestData("no attribute to update")
    outcome = await svc.broker.update_attrs(req.tenant, entity_id, parsed, type_gate(req))
    return _update_result(req, outcome)


async def partial_update_attr(request: Request) -> Response:
    svc = services(request)
    req = await read_request(
        request, svc.contexts, allowed_params=("options", "local", "type"), body=True, merge_patch=True
    )
    entity_id = entity_id_of(request)
    attr = check_name(request.path_params["attr_id"])
    if attr == "scope":
        raise BadRequestData("scope cannot be partially updated; use update attributes")
    body = {k: v for k, v in _fragment(req).items() if k != "@context"}
    stored = await _stored_or_none(svc, req, entity_id)
    if stored is not None:
        body = _typed(body, stored["attrs"].get(req.tm.expand(attr)))
    patch = parse_instance(body, req.tm, nulls=True, partial=True, name=attr)
    await svc.broker.partial_update(req.tenant, entity_id, req.tm.expand(attr), patch, type_gate(req))
    return empty_response(204, tenant=req.tenant)


async def replace_attr(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local", "type"), body=True)
    entity_id = entity_id_of(request)
    attr = check_name(request.path_params["attr_id"])
    body = {k: v for k, v in _fragment(req).items() if k != "@context"}
    iri, instances = parse_attribute(attr, body, req.tm)
    await svc.broker.replace_attr(req.tenant, entity_id, iri, instances, type_gate(req))
    return empty_response(204, tenant=req.tenant)


async def delete_attr(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("datasetId", "deleteAll", "local", "type"))
    entity_id = entity_id_of(request)
    attr = check_name(request.path_params["attr_id"])
    dataset_id = req.params.get("datasetId")
    if dataset_id is not None:
        check_uri(dataset_id, "datasetId")
    iri = "scope" if attr == "scope" else req.tm.expand(attr)
    await svc.broker.delete_attr(
        req.tenant, entity_id, iri, dataset_id=dataset_id, delete_all=req.bool_param("deleteAll"),
        types=type_gate(req),
    )
    return empty_response(204, tenant=req.tenant)


async def replace_entity(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local", "type"), body=True)
    entity_id = entity_id_of(request)
    body = _fragment(req)
    _check_fragment_id(body, entity_id)
    parsed = parse_entity(body, req.tm, require_id=False, require_type=True)
    await svc.broker.replace_entity(req.tenant, entity_id, parsed, type_gate(req))
    return empty_response(204, tenant=req.tenant)


async def merge_entity(request: Request) -> Response:
    svc = services(request)
    req = await read_request(
        request, svc.contexts, allowed_params=("options", "local", "format", "observedAt", "lang", "type"), body=True,
        merge_patch=True,
    )
    entity_id = entity_id_of(request)
    body = _fragment(req)
    _check_fragment_id(body, entity_id)
    stored = await _stored_or_none(svc, req, entity_id)
    if stored is not None:
        body = {
            k: _typed(v, stored["attrs"].get(req.tm.expand(k))) if k not in ENTITY_RESERVED else v
            for k, v in body.items()
        }
    parsed = parse_entity(body, req.tm, require_id=False, require_type=False, nulls=True, merge=True)
    await svc.broker.merge_entity(req.tenant, entity_id, parsed, type_gate(req))
    return empty_response(204, tenant=req.tenant)


async def _stored_or_none(svc: Services, req: NgsiRequest, entity_id: str) -> Entity | None:
    try:
        return await svc.broker.retrieve_entity(req.tenant, entity_id)
    except NgsiLdError:
        return None  # the operation itself reports the missing entity or tenant


def _typed(raw: Any, instances: list[Instance] | None) -> Any:
    """Give a patch that names no type the type of the instance it patches, so that
    its members are validated as that type's (the merged instance stays valid)."""
    if not isinstance(raw, dict) or "type" in raw or not instances:
        return raw
    if any(m in raw for m in VALUE_MEMBER.values() if m != "value") or looks_like_geometry(raw):
        return raw
    ds = raw.get("datasetId")
    for inst in instances:
        if inst.get("datasetId") == (None if ds == "@none" else ds):
            return {**raw, "type": inst.get("type", "Property")}
    return raw


def _check_fragment_id(body: dict[str, Any], entity_id: str) -> None:
    if "id" in body and body["id"] != entity_id:
        raise BadRequestData("the id in the body differs from the id in the URL")


async def missing_entity_id(request: Request) -> Response:
    """PUT or PATCH on /entities without an id: the id is missing, not the method."""
    raise BadRequestData("the entity id is missing from the URL")
