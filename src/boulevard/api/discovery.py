"""HTTP binding of discovery: /types, /types/{type}, /attributes, /attributes/{attrId}."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from boulevard.api import negotiation as neg
from boulevard.api.request import NgsiRequest, read_request
from boulevard.api.responses import ngsi_response
from boulevard.api.services import services
from boulevard.broker.discovery import Inventory, inventory
from boulevard.errors import ResourceNotFound
from boulevard.ngsild.model import check_name

LIST_PARAMS = ("details", "local", "count")  # clause 6.3.20: GET /types and /attributes
ITEM_PARAMS = ("local",)  # GET /types/{type} and /attributes/{attrId}


async def _load(request: Request, params: tuple[str, ...] = LIST_PARAMS) -> tuple[NgsiRequest, Inventory]:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=params, available=neg.PLAIN_MEDIA)
    req.bool_param("details")
    return req, await inventory(svc.broker.store, req.tenant)


async def list_types(request: Request) -> Response:
    req, inv = await _load(request)
    c = req.tm.compact
    if req.bool_param("details"):
        body: Any = [
            {"id": t, "type": "EntityType", "typeName": c(t), "attributeNames": [c(a) for a in info.attrs]}
            for t, info in inv.types.items()
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4().hex}",
            "type": "EntityTypeList",
            "typeList": [c(t) for t in inv.types],
        }
    return ngsi_response(req, body)


async def type_info(request: Request) -> Response:
    req, inv = await _load(request, ITEM_PARAMS)
    name = check_name(request.path_params["type"], "entity type")
    iri = req.tm.expand(name)
    info = inv.types.get(iri)
    if info is None:
        raise ResourceNotFound(f"no entity of type {name}")
    c = req.tm.compact
    body = {
        "id": iri,
        "type": "EntityTypeInfo",
        "typeName": c(iri),
        "entityCount": info.count,
        "attributeDetails": [
            {"id": a, "type": "Attribute", "attributeName": c(a), "attributeTypes": sorted(kinds)}
            for a, kinds in info.attrs.items()
        ],
    }
    return ngsi_response(req, body)


def _attribute(iri: str, inv: Inventory, req: NgsiRequest, *, full: bool) -> dict[str, Any]:
    info = inv.attrs[iri]
    c = req.tm.compact
    out: dict[str, Any] = {"id": iri, "type": "Attribute", "attributeName": c(iri)}
    if full:
        out["attributeCount"] = info.count
        out["attributeTypes"] = sorted(info.attr_types)
    out["typeNames"] = sorted(c(t) for t in info.type_names)
    return out


async def list_attributes(request: Request) -> Response:
    req, inv = await _load(request)
    if req.bool_param("details"):
        body: Any = [_attribute(a, inv, req, full=False) for a in inv.attrs]
    else:
        body = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4().hex}",
            "type": "AttributeList",
            "attributeList": [req.tm.compact(a) for a in inv.attrs],
        }
    return ngsi_response(req, body)


async def attribute_info(request: Request) -> Response:
    req, inv = await _load(request, ITEM_PARAMS)
    name = check_name(request.path_params["attr_id"])
    iri = req.tm.expand(name)
    if iri not in inv.attrs:
        raise ResourceNotFound(f"no attribute {name}")
    return ngsi_response(req, _attribute(iri, inv, req, full=True))
