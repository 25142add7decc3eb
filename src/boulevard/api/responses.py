"""Building HTTP responses: JSON bodies, @context placement, ProblemDetails."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response as StarletteResponse

from boulevard.api import negotiation as neg
from boulevard.api.request import NgsiRequest
from boulevard.errors import NgsiLdError
from boulevard.ngsild.context import CORE_CONTEXT_URL


class Response(StarletteResponse):
    """A Starlette-compatible response that sends its two ASGI messages directly
    (no background tasks, no header re-parsing): the hot paths answer through it."""

    def __init__(
        self,
        content: bytes | None = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = content or b""
        raw = [] if status_code in (204, 304) else [(b"content-length", str(len(self.body)).encode())]
        if media_type is not None and content is not None:
            raw.append((b"content-type", media_type.encode()))
        if headers:
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
        self.raw_headers = raw
        self.background = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def json_response(
    data: Any, status: int = 200, media_type: str = neg.JSON, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=media_type, headers=headers)


def context_of(req: NgsiRequest) -> Any:
    """The @context to put in a JSON-LD response: the request's own, or the core."""
    ref = req.context_ref
    if ref is None:
        return CORE_CONTEXT_URL
    return ref


def _link_url(req: NgsiRequest) -> str:
    ref = req.context_ref
    if isinstance(ref, str):
        return ref
    if isinstance(ref, list) and len(ref) == 1 and isinstance(ref[0], str):
        return str(ref[0])
    return CORE_CONTEXT_URL


def ngsi_response(
    req: NgsiRequest, data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A compacted payload: @context in the body for JSON-LD, in a Link header for JSON."""
    hdrs = dict(headers or {})
    if req.accept == neg.JSON_LD or (req.accept == neg.GEO_JSON and not req.prefer_plain_json):
        ctx = context_of(req)
        if isinstance(data, list):
            data = [{**item, "@context": ctx} if isinstance(item, dict) else item for item in data]
        elif isinstance(data, dict):
            data = {**data, "@context": ctx}
    else:
        context_link = neg.link_header(_link_url(req))
        hdrs["Link"] = f"{context_link}, {hdrs['Link']}" if "Link" in hdrs else context_link
    if req.tenant:
        hdrs["NGSILD-Tenant"] = req.tenant
    return json_response(data, status, req.accept, hdrs)


def empty_response(status: int = 204, headers: dict[str, str] | None = None, tenant: str = "") -> Response:
    hdrs = dict(headers or {})
    if tenant:
        hdrs["NGSILD-Tenant"] = tenant
    return Response(None, status_code=status, headers=hdrs)


def problem_response(error: NgsiLdError, tenant: str | None = None) -> Response:
    headers = {"NGSILD-Tenant": tenant} if tenant else None
    if error.bare:
        return Response(None, status_code=error.status, headers=headers)
    return Response(
        orjson.dumps(error.to_problem()),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )
