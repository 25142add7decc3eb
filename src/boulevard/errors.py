"""NGSI-LD errors: one exception class per ProblemDetails type.

Every failure the broker reports is one of these; the HTTP layer renders them
in one place (``api.problem``), other clients (adapters, CLI) catch them.
"""

from __future__ import annotations

from typing import Any

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiLdError(Exception):
    """Base class: carries the HTTP status and the ProblemDetails type."""

    status = 500
    kind = "InternalError"
    title = "Internal error"
    bare = False  # True: the response carries no body

    def __init__(self, detail: str = "", **extra: Any) -> None:
        detail = detail or f"{self.title} ({self.status})"
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + self.kind

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidRequest(NgsiLdError):
    status = 400
    kind = "InvalidRequest"
    title = "Invalid request"


class BadRequestData(NgsiLdError):
    status = 400
    kind = "BadRequestData"
    title = "Bad request data"


class ResourceNotFound(NgsiLdError):
    status = 404
    kind = "ResourceNotFound"
    title = "Resource not found"


class AlreadyExists(NgsiLdError):
    status = 409
    kind = "AlreadyExists"
    title = "Already exists"


class OperationNotSupported(NgsiLdError):
    status = 422
    kind = "OperationNotSupported"
    title = "Operation not supported"


class TooManyResults(NgsiLdError):
    status = 403
    kind = "TooManyResults"
    title = "Too many results"


class LdContextNotAvailable(NgsiLdError):
    """504 as GS CIM 009 v1.8/1.9 clause 6.3.2 maps it (the issue text said 503)."""

    status = 504
    kind = "LdContextNotAvailable"
    title = "@context not available"


class NonexistentTenant(NgsiLdError):
    status = 404
    kind = "NonexistentTenant"
    title = "Nonexistent tenant"


class NotAcceptable(NgsiLdError):
    """406: the Accept header names no representation we can produce."""

    status = 406
    kind = "NotAcceptable"
    title = "Not acceptable"


class UnsupportedMediaType(NgsiLdError):
    """415: the request body has a Content-Type we do not read."""

    status = 415
    kind = "UnsupportedMediaType"
    title = "Unsupported media type"


class LengthRequired(NgsiLdError):
    """411 carries no body (clause 6.3.4)."""

    bare = True
    status = 411
    kind = "LengthRequired"
    title = "Length required"


class MethodNotAllowed(NgsiLdError):
    status = 405
    kind = "MethodNotAllowed"
    title = "Method not allowed"


class InternalError(NgsiLdError):
    pass
