"""Validation at the HTTP edge: tenant, @context, body, query parameters.

``read_request`` turns a Starlette request into an ``NgsiRequest`` of plain
typed data, raising the right NGSI-LD error for every malformed part.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from boulevard.api import negotiation as neg
from boulevard.errors import BadRequestData, InvalidRequest, LengthRequired
from boulevard.ngsild.context import ContextCache, TermMap

TENANT_HEADER = "ngsild-tenant"
_TENANT_RE = re.compile(r"^[A-Za-z0-9_\-.:/]{1,255}$")
_NO_BODY = object()


@dataclass
class NgsiRequest:
    tenant: str
    tm: TermMap
    context_ref: Any  # what the client named: Link URL, inline @context, or None
    accept: str
    params: dict[str, str]
    body: Any = None
    content_type: str | None = None
    prefer_plain_json: bool = False  # Prefer: body=json (clause 6.3.6)
    version: str | None = None  # Prefer: ngsi-ld=<major.minor>, the version the client reads (4.3.6.8)

    def flag(self, name: str) -> bool:
        return name in self.options

    @property
    def options(self) -> set[str]:
        raw = self.params.get("options", "")
        return {o.strip() for o in raw.split(",") if o.strip()}

    def list_param(self, name: str) -> list[str] | None:
        raw = self.params.get(name)
        if raw is None:
            return None
        return [v.strip() for v in raw.split(",") if v.strip()]

    def names_param(self, name: str) -> list[str] | None:
        """A comma-separated list of names (attrs, datasetId, expandValues); an empty name
        (two commas in a row, a trailing one) is refused. pick/omit: ngsild.projection."""
        raw = self.params.get(name)
        if raw is None:
            return None
        names = raw.split(",")
        if any(not n.strip() for n in names):
            raise BadRequestData(f"{name} has an empty name: {raw!r}")
        return [n.strip() for n in names]

    def bool_param(self, name: str) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return False
        if raw.lower() not in ("true", "false"):
            raise BadRequestData(f"{name} must be true or false")
        return raw.lower() == "true"


def tenant_of(request: Request) -> str:
    return _tenant(request.headers.get(TENANT_HEADER))


def _tenant(tenant: str | None) -> str:
    if tenant is None:
        return ""
    if not _TENANT_RE.match(tenant):
        raise BadRequestData(f"invalid tenant name {tenant!r}")
    return tenant


def check_params(params: dict[str, str], allowed: Collection[str]) -> None:
    for name in params:
        if name not in allowed:
            raise InvalidRequest(f"unknown query parameter {name!r}")


async def read_request(
    request: Request,
    contexts: ContextCache,
    *,
    allowed_params: Collection[str] = (),
    body: bool = False,
    available: tuple[str, ...] = neg.PLAIN_MEDIA,
    merge_patch: bool = False,
    optional_body: bool = False,
) -> NgsiRequest:
    headers = _headers(request)
    if body and "content-length" not in headers:
        raise LengthRequired("a request body needs a Content-Length")
    params = dict(request.query_params) if request.scope.get("query_string") else {}
    check_params(params, allowed_params)
    tenant = _tenant(headers.get(TENANT_HEADER))
    accept = neg.negotiate(headers.get("accept"), available)
    link = neg.parse_link_context(headers.get("link"))
    payload: Any = None
    ctype: str | None = None
    context_ref: Any = link
    if body:
        raw_ct = headers.get("content-type")
        if optional_body and not raw_ct and headers.get("content-length", "0") == "0":
            return NgsiRequest(tenant, await contexts.term_map(link), link, accept, params)
        ctype = neg.check_content_type(raw_ct, merge_patch=merge_patch)
        raw = await request.body()
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
        check_depth(raw)
        if isinstance(payload, list):
            # batches: each entity is checked on its own (per-entity errors)
            if ctype == neg.JSON_LD and link is not None:
                raise BadRequestData("with application/ld+json the @context goes in the body, not in a Link header")
            # with JSON-LD each entity's own @context is resolved per entity (per-entity errors)
            context_ref = link if ctype != neg.JSON_LD else None
        elif ctype == neg.JSON_LD:
            if link is not None:
                raise BadRequestData("with application/ld+json the @context goes in the body, not in a Link header")
            context_ref = _inline_context(payload, required=True)
        else:
            if _has_inline_context(payload):
                raise BadRequestData("with application/json the @context goes in a Link header, not in the body")
    tm = await contexts.term_map(context_ref)
    prefer = headers.get("prefer")
    prefs = prefer.replace(" ", "").lower().split(",") if prefer is not None else []
    plain = "body=json" in prefs
    version = next((p.split("=", 1)[1] for p in prefs if _VERSION_PREF.match(p)), None)
    return NgsiRequest(tenant, tm, context_ref, accept, params, payload, ctype, plain, version)


_VERSION_PREF = re.compile(r"^ngsi-ld=\d+\.\d+$")


def _headers(request: Request) -> dict[str, str]:
    """The request headers as a plain dict (names are lower-case in ASGI); repeated
    headers are joined with ", " as HTTP list semantics allow."""
    out: dict[str, str] = {}
    for k, v in request.scope["headers"]:
        name, value = k.decode("latin-1"), v.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


MAX_DEPTH = 64


_QUOTED = re.compile(rb'"[^"]*"')
_INNERMOST = re.compile(rb"\{\}|\[\]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'{}[]"')


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse a (valid JSON) body nested deeper than any NGSI-LD payload needs.

    Works on the bytes, at C speed: keep only brackets and quotes; drop the
    strings; then peel the innermost empty pairs level by level.
    """
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return
    if b"\\" in raw:  # drop escapes, left to right as JSON reads them: '\\' pairs, then '\"'
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # every quote now opens or closes a string; removing two adjacent quotes leaves every
    # other character in or out of a string as it was, so after it a left-to-right pairing
    # of the quotes left finds exactly the strings that hold brackets
    skeleton = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _QUOTED.sub(b"", skeleton)
    # fast passes: each removes one or two levels, so few passes prove a shallow body
    fast = skeleton
    for passes in range(1, limit + 1):
        fast = fast.replace(b"{}", b"").replace(b"[]", b"")
        if not fast:
            if 2 * passes <= limit:
                return
            break
    else:
        raise BadRequestData(f"the body is nested more than {limit} levels deep")  # >= limit+1 levels
    for _ in range(limit):  # exact: one level per pass
        skeleton = _INNERMOST.sub(b"", skeleton)
        if not skeleton:
            return
    raise BadRequestData(f"the body is nested more than {limit} levels deep")


def _has_inline_context(payload: Any) -> bool:
    if isinstance(payload, dict):
        return "@context" in payload
    if isinstance(payload, list):
        return any(isinstance(p, dict) and "@context" in p for p in payload)
    return False


def _inline_context(payload: Any, *, required: bool) -> Any:
    if isinstance(payload, dict):
        if "@context" not in payload:
            if required:
                raise BadRequestData("application/ld+json bodies must carry an @context")
            return None
        return payload["@context"]
    if isinstance(payload, list):
        # batch bodies: each entity carries its own @context; the first names the response's
        for item in payload:
            if isinstance(item, dict) and "@context" not in item and required:
                raise BadRequestData("every entity of an application/ld+json batch must carry an @context")
        first = next((p for p in payload if isinstance(p, dict)), None)
        return first.get("@context") if first else None
    return None


def parse_int(params: dict[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequestData(f"{name} must be an integer") from exc
    if value < minimum or (maximum is not None and value > maximum):
        raise BadRequestData(f"{name} must be between {minimum} and {maximum}")
    return value
