"""HTTP binding of the Temporal API (clauses 6.18-6.24): /temporal/entities and its query."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from boulevard.api import negotiation as neg
from boulevard.api.entities import (
    ENTITY_MAPS_PATH,
    entity_id_of,
    entity_map_header,
    page_params,
    query_selection,
    selection_of,
    type_gate,
)
from boulevard.api.request import NgsiRequest, read_request
from boulevard.api.responses import empty_response, ngsi_response
from boulevard.api.services import services
from boulevard.api.views import View, view_of
from boulevard.errors import BadRequestData, ResourceNotFound
from boulevard.ngsild import qlang
from boulevard.ngsild.model import (
    check_datetime,
    check_name,
    check_scopes,
    check_uri,
    parse_attributes,
    parse_entity,
    parse_instance,
)
from boulevard.ngsild.temporal import (
    AGGREGATED,
    NORMALIZED,
    TEMPORAL_VALUES,
    TemporalEntity,
    TemporalParams,
    check_instance_id,
    parse_temporal,
    render_temporal,
)
from boulevard.storage.base import SCOPE
from boulevard.timestamps import to_micros

TEMPORAL_PATH = "/ngsi-ld/v1/temporal/entities"
TEMPORAL_PARAMS = (
    "timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods", "aggrPeriodDuration",
)
RETRIEVE_PARAMS = (
    "attrs", "pick", "omit", "options", "format", "lang", "local", "datasetId", "type", "join", "joinLevel",
    "entityMap", *TEMPORAL_PARAMS,
)
QUERY_PARAMS = (
    *RETRIEVE_PARAMS, "id", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates", "geoproperty",
    "csf", "limit", "offset", "count", "expandValues", "orderBy",
)
TEMPORAL_FORMATS = (TEMPORAL_VALUES, AGGREGATED)


def _location(entity_id: str) -> str:
    return f"{TEMPORAL_PATH}/{quote(entity_id, safe=':')}"


def _view(req: NgsiRequest) -> tuple[View, str]:
    """The entity view (attrs, pick/omit, sysAttrs, ...) and the temporal representation:
    normalized, temporalValues or aggregatedValues (as an option or as the format)."""
    fmt = req.params.get("format")
    plain = req if fmt not in TEMPORAL_FORMATS else replace(
        req, params={k: v for k, v in req.params.items() if k != "format"}
    )
    view = view_of(plain)
    if view.join is not None:
        raise BadRequestData("join does not apply to temporal representations")
    if fmt is not None:  # format wins over options (6.3.12)
        return view, fmt if fmt in TEMPORAL_FORMATS else NORMALIZED
    opts = req.options
    if AGGREGATED in opts or "aggrMethods" in req.params:
        return view, AGGREGATED
    if TEMPORAL_VALUES in opts:
        return view, TEMPORAL_VALUES
    return view, NORMALIZED


def _temporal_params(req: NgsiRequest, params: dict[str, str], mode: str) -> TemporalParams:
    attrs = req.names_param("attrs")
    datasets = req.names_param("datasetId")
    for ds in datasets or ():
        if ds != "@none":
            check_uri(ds, "datasetId")
    return parse_temporal(
        params,
        attrs=None if attrs is None else tuple(req.tm.expand(check_name(a)) for a in attrs),
        dataset_ids=None if datasets is None else tuple(datasets),
        aggregated=mode == AGGREGATED,
    )


def _shown(te: TemporalEntity, req: NgsiRequest, view: View, mode: str, tp: TemporalParams) -> dict[str, Any]:
    out = render_temporal(te, req.tm, view.opts, mode, tp.timeproperty)
    if view.pick is not None:
        out = {k: v for k, v in out.items() if view.pick.picked(k)}
    if view.omit is not None:
        out = {k: v for k, v in out.items() if not view.omit.omitted(k)}
    return out


def _check_query_extras(req: NgsiRequest) -> None:
    p = req.params
    if "csf" in p:
        qlang.parse(p["csf"])
    if "orderBy" in p and p["orderBy"].strip() not in ("id", "id;asc", "id;desc"):
        raise BadRequestData("a temporal query can only be ordered by id")


# --- provision --------------------------------------------------------------------------
async def create_temporal(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, body=True)
    if not isinstance(req.body, dict):
        raise BadRequestData("the body of create temporal entity must be a JSON object")
    body = dict(req.body)
    scopes = _scope_history(body.pop("scope")) if _is_scope_history(body.get("scope")) else None
    parsed = parse_entity(body, req.tm, temporal=True)
    if scopes:  # the scope's own history: its latest value is the entity's scope
        parsed["attrs"][SCOPE] = scopes
        parsed["scope"] = max(scopes, key=lambda i: to_micros(i["observedAt"]))["value"]
    created = await svc.broker.temporal.create_or_update(req.tenant, parsed)
    if created:
        return empty_response(201, {"Location": _location(parsed["id"])}, req.tenant)
    return empty_response(204, None, req.tenant)


def _is_scope_history(raw: Any) -> bool:
    return isinstance(raw, list) and bool(raw) and all(isinstance(x, dict) for x in raw)


def _scope_history(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scope instances of a temporal representation (4.18): each valid from its observedAt."""
    out = []
    for inst in raw:
        if inst.get("type", "Property") != "Property" or "value" not in inst or "observedAt" not in inst:
            raise BadRequestData("a scope instance is a Property with a value and an observedAt")
        out.append({"type": "Property", "value": check_scopes(inst["value"]),
                    "observedAt": check_datetime(inst["observedAt"], "observedAt")})
    return out


async def add_temporal_attrs(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, body=True)
    entity_id = entity_id_of(request)
    if not isinstance(req.body, dict):
        raise BadRequestData("the body must be a JSON object of attributes")
    attrs = parse_attributes(req.body, req.tm, temporal=True)
    if not attrs:
        raise BadRequestData("no attribute to add")
    await svc.broker.temporal.add_attrs(req.tenant, entity_id, attrs)
    return empty_response(204, None, req.tenant)


async def delete_temporal(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local",))
    await svc.broker.temporal.delete(req.tenant, entity_id_of(request))
    return empty_response(204, None, req.tenant)


def _instance_of(request: Request) -> int:
    """400 for an instanceId that is not a URI, 404 for one this broker never issued."""
    return check_instance_id(check_uri(request.path_params["instance_id"], "instanceId"))


async def missing_part(request: Request) -> Response:
    raise BadRequestData("the entity id or attribute name is missing from the URL")


def _attr_of(request: Request, req: NgsiRequest) -> str:
    return req.tm.expand(check_name(request.path_params["attr_id"]))


async def delete_temporal_attr(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("datasetId", "deleteAll", "local"))
    entity_id = entity_id_of(request)
    dataset_id = req.params.get("datasetId")
    if dataset_id is not None:
        check_uri(dataset_id, "datasetId")
    await svc.broker.temporal.delete_attr(
        req.tenant, entity_id, _attr_of(request, req), dataset_id, req.bool_param("deleteAll")
    )
    return empty_response(204, None, req.tenant)


async def modify_instance(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, body=True)
    entity_id = entity_id_of(request)
    attr = _attr_of(request, req)
    iid = _instance_of(request)
    if not isinstance(req.body, dict):
        raise BadRequestData("the body must be an attribute instance")
    raw = req.body
    name = request.path_params["attr_id"]
    if name in raw:  # {"attr": {...instance...}} as well as the bare instance
        raw = raw[name]
        if isinstance(raw, list):
            if len(raw) != 1:
                raise BadRequestData("modify one instance at a time")
            raw = raw[0]
    body = {k: v for k, v in raw.items() if k != "@context"} if isinstance(raw, dict) else raw
    inst = parse_instance(body, req.tm, name=name)
    await svc.broker.temporal.modify_instance(req.tenant, entity_id, attr, iid, inst)
    return empty_response(204, None, req.tenant)


async def delete_instance(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local",))
    entity_id = entity_id_of(request)
    iid = _instance_of(request)
    await svc.broker.temporal.delete_instance(req.tenant, entity_id, _attr_of(request, req), iid)
    return empty_response(204, None, req.tenant)


# --- consumption ------------------------------------------------------------------------
async def retrieve_temporal(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=RETRIEVE_PARAMS, available=neg.PLAIN_MEDIA)
    entity_id = entity_id_of(request)
    view, mode = _view(req)
    tp = _temporal_params(req, req.params, mode)
    te, cut = await svc.broker.temporal.retrieve(req.tenant, entity_id, tp.query, tp.aggregation, type_gate(req))
    if tp.query.attrs is not None and not te.instances and not te.aggregates:
        raise ResourceNotFound(f"temporal entity {entity_id} has none of the attributes asked for")
    body = _shown(te, req, view, mode, tp)
    if not body and (view.pick is not None or view.omit is not None):
        raise ResourceNotFound(f"pick/omit leave nothing of temporal entity {entity_id}")
    headers = entity_map_header(svc, req, request, [entity_id])
    if cut is not None:
        headers["Content-Range"] = cut.header()
        return ngsi_response(req, body, 206, headers)
    return ngsi_response(req, body, 200, headers)


async def query_temporal(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=QUERY_PARAMS, available=neg.PLAIN_MEDIA)
    view, mode = _view(req)
    _check_query_extras(req)
    sel = selection_of(req)
    p = req.params
    if not (sel.narrows or "georel" in p or req.bool_param("local") or p.get("type") == "*"):
        raise BadRequestData("a temporal query needs a type, attrs, q or a geo-query")
    return await _answer(req, sel, view, mode, _temporal_params(req, p, mode), request)


TEMPORAL_Q_MEMBERS = ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN")


async def query_temporal_post(request: Request) -> Response:
    """POST /temporal/entityOperations/query: a Query body with temporalQ (5.2.23)."""
    svc = services(request)
    req = await read_request(
        request, svc.contexts, allowed_params=("limit", "offset", "count", "options", "format", "lang", "local",
                                               "aggrMethods", "aggrPeriodDuration", "lastN"),
        body=True, available=neg.PLAIN_MEDIA,
    )
    body = req.body
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData("the body of a temporal query must be a Query object")
    params = dict(req.params)
    temporal_q = body.get("temporalQ")
    if temporal_q is not None:
        if not isinstance(temporal_q, dict):
            raise BadRequestData("temporalQ must be an object")
        for name in TEMPORAL_Q_MEMBERS:
            if name in temporal_q:
                value = temporal_q[name]
                if name == "lastN" and isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)
                if not isinstance(value, str):
                    raise BadRequestData(f"temporalQ.{name} must be a string")
                params[name] = value
    aggr_params = body.get("aggrParams")
    if aggr_params is not None and not isinstance(aggr_params, dict):
        raise BadRequestData("aggrParams must be an object")
    sources = [body, temporal_q or {}, aggr_params or {}]
    for name in ("aggrMethods", "aggrPeriodDuration"):
        for source in sources:
            if name not in source:
                continue
            value = source[name]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ",".join(value)
            if not isinstance(value, str):
                raise BadRequestData(f"{name} must be a string")
            params[name] = value
    if "attrs" in body:
        params["attrs"] = ",".join(body["attrs"]) if isinstance(body["attrs"], list) else body["attrs"]
    for name in ("q", "scopeQ", "lang"):
        if name in body:
            if not isinstance(body[name], str):
                raise BadRequestData(f"{name} must be a string")
            params[name] = body[name]
    req.params = params
    selectors = body.get("entities") or []
    if not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
        raise BadRequestData("entities must be an array of entity selectors")
    geo = body.get("geoQ")
    if geo is not None and not isinstance(geo, dict):
        raise BadRequestData("geoQ must be an object")
    sel = query_selection(req, params, selectors, geo)
    if not (sel.narrows or geo is not None):
        raise BadRequestData("a temporal query needs entities, attrs, q or geoQ")
    view, mode = _view(req)
    return await _answer(req, sel, view, mode, _temporal_params(req, params, mode), request)


async def _answer(req: NgsiRequest, sel: Any, view: View, mode: str, tp: TemporalParams,
                  request: Request) -> Response:
    svc = services(request)
    p = req.params
    limit, offset, count = page_params(req)
    # EntityMaps (5.7.1.4): a live map named in NGSILD-EntityMap fixes the entities; otherwise
    # entityMap=true (or a dead reference) makes a new one from this answer (201)
    ref = request.headers.get("ngsild-entitymap")
    live = svc.broker.entity_maps.get(req.tenant, ref.rsplit("/", 1)[-1]) if ref else None
    if live is not None:
        ids = tuple(i for i in live.entities if sel.flt.ids is None or i in sel.flt.ids)
        sel = replace(sel, flt=replace(sel.flt, ids=ids or ("",)))
    page, total, cut = await svc.broker.temporal.query(
        req.tenant, sel, tp.query, tp.aggregation, limit=limit, offset=offset, count=count,
        scoped="scopeQ" in p,
    )
    body = [_shown(te, req, view, mode, tp) for te in page]
    headers: dict[str, str] = {}
    status = 200
    if live is not None:
        headers["NGSILD-EntityMap"] = ref or ""
    elif ref is not None or req.bool_param("entityMap"):
        made = svc.broker.entity_maps.use(req.tenant, None, [te.head.id for te in page])
        headers["NGSILD-EntityMap"] = f"{ENTITY_MAPS_PATH}/{made.id}"
        status = 201
    if total is not None:
        headers["NGSILD-Results-Count"] = str(total)
    if cut is not None:
        headers["Content-Range"] = cut.header()
        status = 206
    return ngsi_response(req, body, status, headers)

