"""A lean ASGI dispatcher for the NGSI-LD routes.

Starlette's Request and Response are kept, but its middleware stack is not:
one route match, one handler call, and every ``NgsiLdError`` rendered as
ProblemDetails in one place. The hot paths (create, retrieve) pay for nothing
else. A trailing ``/`` is ignored: clients (and the ETSI suite) use both forms.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response

from boulevard.api.responses import problem_response
from boulevard.errors import InternalError, MethodNotAllowed, NgsiLdError, ResourceNotFound

log = logging.getLogger("boulevard.api")
Handler = Callable[[Request], Awaitable[Response]]
Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]
_PARAM = re.compile(r"\{(\w+)(:path)?\}")


@dataclass(frozen=True)
class Route:
    path: str
    methods: tuple[str, ...]
    handler: Handler

    def compile(self) -> re.Pattern[str]:
        pattern = ""
        pos = 0
        for m in _PARAM.finditer(self.path):
            pattern += re.escape(self.path[pos : m.start()])
            pattern += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
            pos = m.end()
        pattern += re.escape(self.path[pos:])
        return re.compile(f"^{pattern}$")


class Router:
    """An ASGI app: routes, lifespan, and the one place errors become responses."""

    def __init__(self, routes: list[Route], lifespan: Lifespan) -> None:
        self.state = State()
        self._lifespan = lifespan
        self._routes = [(r.compile(), r) for r in routes]
        self._exact: dict[str, list[Route]] = {}
        for r in routes:
            if "{" not in r.path:
                self._exact.setdefault(r.path, []).append(r)
        self._cm: AbstractAsyncContextManager[None] | None = None

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        found_path = False
        exact = self._exact.get(path)
        if exact is not None:
            found_path = True
            for r in exact:
                if method in r.methods:
                    return r.handler, {}
        for rx, r in self._routes:
            m = rx.match(path)
            if m is None:
                continue
            found_path = True
            if method in r.methods:
                return r.handler, m.groupdict()
        if found_path:
            raise MethodNotAllowed(f"{method} is not allowed on {path}")
        raise ResourceNotFound(f"no resource at {path}")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan_protocol(receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = self
        try:
            # match on the raw path so that an id holding an encoded '/' stays one segment
            raw = scope.get("raw_path")
            path = raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]
            handler, params = self.match(scope["method"], path)
            scope["path_params"] = {k: unquote(v) for k, v in params.items()}
            response = await handler(Request(scope, receive))
        except NgsiLdError as exc:
            response = problem_response(exc, _tenant_header(scope))
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            response = problem_response(InternalError("internal error; the request changed nothing"))
        await response(scope, receive, send)

    async def _lifespan_protocol(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._cm = self._lifespan(self)
                    await self._cm.__aenter__()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._cm is not None:
                    await self._cm.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _tenant_header(scope: dict[str, Any]) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"ngsild-tenant":
            return bytes(value).decode("latin-1")
    return None
