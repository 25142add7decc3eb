"""HTTP binding of the batch operations under /entityOperations (clause 6.14-6.31)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from boulevard.api import negotiation as neg
from boulevard.api.request import NgsiRequest, read_request
from boulevard.api.responses import empty_response, json_response, ngsi_response
from boulevard.api.services import Services, services
from boulevard.broker.operations import BatchItem, BatchResult
from boulevard.errors import BadRequestData, NgsiLdError
from boulevard.ngsild.model import check_uri, parse_entity

MAX_BATCH = 10_000


async def _items(
    svc: Services, req: NgsiRequest, *, require_type: bool, nulls: bool = False, merge: bool = False
) -> list[BatchItem]:
    body = req.body
    if not isinstance(body, list):
        raise BadRequestData("a batch body must be a JSON array")
    if not body:
        raise BadRequestData("a batch body must not be empty")
    if len(body) > MAX_BATCH:
        raise BadRequestData(f"a batch holds at most {MAX_BATCH} entities")
    if any(not isinstance(raw, dict) for raw in body):
        raise BadRequestData("every member of a batch body must be an entity object")
    items: list[BatchItem] = []
    for raw in body:
        raw_id = raw.get("id")
        entity_id = raw_id if isinstance(raw_id, str) else ""
        try:
            tm = req.tm
            if req.content_type == neg.JSON_LD:
                if "@context" not in raw:
                    raise BadRequestData("with application/ld+json each entity must carry an @context")
                tm = await svc.contexts.term_map(raw["@context"])
            elif "@context" in raw:
                raise BadRequestData("with application/json the @context goes in a Link header")
            parsed = parse_entity(raw, tm, require_type=require_type, nulls=nulls, merge=merge)
            items.append(BatchItem(parsed["id"], parsed))
        except NgsiLdError as exc:
            items.append(BatchItem(entity_id, error=exc))
    return items


def _result_body(res: BatchResult) -> dict[str, Any]:
    return {
        "success": res.success,
        "errors": [{"entityId": eid, "error": err.to_problem()} for eid, err in res.errors],
    }


def _multi(req: NgsiRequest, res: BatchResult) -> Response:
    return json_response(_result_body(res), 207, headers={"NGSILD-Tenant": req.tenant} if req.tenant else None)


Handler = Callable[[Request], Awaitable[Response]]


async def batch_create(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local",), body=True)
    res = await svc.broker.batch_create(req.tenant, await _items(svc, req, require_type=True))
    if res.ok:
        return ngsi_response(req, res.success, 201) if req.accept != neg.JSON_LD else json_response(
            res.success, 201, headers={"NGSILD-Tenant": req.tenant} if req.tenant else None
        )
    return _multi(req, res)


async def batch_upsert(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("options", "local"), body=True)
    opts = req.options
    if opts - {"update", "replace"} or {"update", "replace"} <= opts:
        raise BadRequestData("options must be update or replace")
    items = await _items(svc, req, require_type=True)
    res = await svc.broker.batch_upsert(req.tenant, items, replace="update" not in opts)
    if not res.ok:
        return _multi(req, res)
    if res.created:
        return json_response(res.created, 201, headers={"NGSILD-Tenant": req.tenant} if req.tenant else None)
    return empty_response(204, tenant=req.tenant)


async def batch_update(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("options", "local"), body=True)
    if req.options - {"noOverwrite"}:
        raise BadRequestData("options must be noOverwrite")
    items = await _items(svc, req, require_type=False)
    res = await svc.broker.batch_update(req.tenant, items, overwrite="noOverwrite" not in req.options)
    return empty_response(204, tenant=req.tenant) if res.ok else _multi(req, res)


async def batch_merge(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("options", "local"), body=True)
    items = await _items(svc, req, require_type=False, nulls=True, merge=True)
    res = await svc.broker.batch_merge(req.tenant, items)
    return empty_response(204, tenant=req.tenant) if res.ok else _multi(req, res)


async def batch_delete(request: Request) -> Response:
    svc = services(request)
    req = await read_request(request, svc.contexts, allowed_params=("local",), body=True)
    body = req.body
    if not isinstance(body, list) or not body:
        raise BadRequestData("a batch delete body must be a non-empty JSON array of entity ids")
    items: list[BatchItem] = []
    for raw in body:
        try:
            items.append(BatchItem(check_uri(raw, "entity id")))
        except NgsiLdError as exc:
            items.append(BatchItem(raw if isinstance(raw, str) else "", error=exc))
    res = await svc.broker.batch_delete(req.tenant, items)
    return empty_response(204, tenant=req.tenant) if res.ok else _multi(req, res)
