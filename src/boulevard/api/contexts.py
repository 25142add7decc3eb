"""HTTP binding of the @context management operations (/jsonldContexts, clause 6.29)."""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response

from boulevard.api import negotiation as neg
from boulevard.api.request import check_depth, check_params, tenant_of
from boulevard.api.responses import empty_response, json_response
from boulevard.api.services import services
from boulevard.errors import BadRequestData, InvalidRequest, ResourceNotFound
from boulevard.ngsild.context import CORE_CONTEXT_URL, core_context_document, is_absolute_iri, is_core_url

KINDS = ("Hosted", "Cached", "ImplicitlyCreated")


def _bool(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false")
    return raw == "true"


async def add_context(request: Request) -> Response:
    svc = services(request)
    check_params(dict(request.query_params), ())
    neg.check_content_type(request.headers.get("content-type"))
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    check_depth(raw)
    if not isinstance(body, dict) or "@context" not in body:
        raise InvalidRequest("a @context document is a JSON object with an @context member")
    ctx = body["@context"]
    items = ctx if isinstance(ctx, list) else [ctx]
    if not isinstance(ctx, (dict, list, str)) or not all(isinstance(i, (dict, str)) for i in items):
        raise BadRequestData("@context must be an object, a URL, or an array of them")
    for item in items:
        if isinstance(item, str) and not is_absolute_iri(item):
            raise BadRequestData(f"@context entry {item!r} is not a URL")
    entry = svc.contexts.new_hosted(body, tenant_of(request))
    await svc.broker.store.save_context(entry.id, entry.tenant or "", body, entry.created_at)
    svc.contexts.register(entry)  # only once it is on disk
    # the URLs a hosted context names become Cached contexts now (best effort:
    # an unreachable one is fetched again when a request first uses it)
    urls = [i for i in items if isinstance(i, str) and not is_core_url(i)]
    await asyncio.gather(*(svc.contexts.document(u) for u in urls), return_exceptions=True)
    return empty_response(201, {"Location": f"/ngsi-ld/v1/jsonldContexts/{entry.id}"})


async def list_contexts(request: Request) -> Response:
    svc = services(request)
    check_params(dict(request.query_params), ("details", "kind"))
    details = _bool(request, "details")
    kind = request.query_params.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequestData(f"kind must be one of {', '.join(KINDS)}")
    entries = [e for e in svc.contexts.entries(tenant_of(request)) if kind is None or e.kind == kind]
    if details:
        return json_response([e.info() for e in entries])
    urls = [e.url for e in entries]
    if kind in (None, "Cached"):
        urls.insert(0, CORE_CONTEXT_URL)
    return json_response(urls)


async def serve_context(request: Request) -> Response:
    svc = services(request)
    check_params(dict(request.query_params), ("details",))
    details = _bool(request, "details")
    context_id = request.path_params["context_id"]
    if is_core_url(context_id):
        if details:
            return json_response({"url": CORE_CONTEXT_URL, "kind": "Cached", "localId": "core"})
        return json_response(core_context_document())
    entry = svc.contexts.get_entry(context_id, tenant_of(request))
    if entry is None:
        raise ResourceNotFound(f"no @context {context_id}")
    if details:
        return json_response(entry.info())
    body = entry.body if isinstance(entry.body, dict) and "@context" in entry.body else {"@context": entry.body}
    return json_response(body)


async def delete_context(request: Request) -> Response:
    svc = services(request)
    check_params(dict(request.query_params), ("reload",))
    reload = _bool(request, "reload")
    context_id = request.path_params["context_id"]
    if is_core_url(context_id) or context_id == "core":
        if reload:
            return empty_response(204)  # the core context is embedded: reloading it is a no-op
        raise BadRequestData("the core @context cannot be deleted")
    entry = svc.contexts.get_entry(context_id, tenant_of(request))
    if entry is None:
        if reload:
            raise BadRequestData(f"no cached @context {context_id} to reload")
        raise ResourceNotFound(f"no @context {context_id}")
    if reload:
        if entry.kind != "Cached":
            raise BadRequestData(f"only Cached @contexts can be reloaded, this one is {entry.kind}")
        await svc.contexts.reload_entry(entry)
        return empty_response(204)
    if entry.kind == "Hosted":
        await svc.broker.store.delete_context(entry.id)
    svc.contexts.delete_entry(entry)
    return empty_response(204)
