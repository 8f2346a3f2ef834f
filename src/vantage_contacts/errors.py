"""One error shape for every failure: `{"error": {"code", "message", "field"?, ...}}`.

Services raise `APIError` subclasses; the handlers here turn them, FastAPI's own validation
errors, unknown routes and unexpected exceptions into that shape. No handler ever sends a
stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from vantage_contacts.kit.responses import JSONBody

log = logging.getLogger("vantage_contacts.errors")


class APIError(Exception):
    status_code: int = 400
    code: str = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(APIError):
    """400: the request cannot be read (bad JSON, a body that is not an object)."""


class InvalidParameter(APIError):
    """400: a query or path parameter has an unknown or out-of-range value."""

    code = "invalid_parameter"


class Unauthorized(APIError):
    status_code = 401
    code = "unauthorized"


class Forbidden(APIError):
    status_code = 403
    code = "forbidden"


class NotFound(APIError):
    status_code = 404
    code = "not_found"

    def __init__(self, resource: str, object_id: str, **extra: Any) -> None:
        super().__init__(
            f"No {resource} with id '{object_id}'.",
            extra={"resource": resource, "id": object_id, **extra},
        )


class ContactMerged(NotFound):
    code = "contact_merged"

    def __init__(self, object_id: str, merged_into: str) -> None:
        super().__init__("contact", object_id, merged_into=merged_into)
        self.message = f"Contact '{object_id}' was merged into '{merged_into}'."


class MethodNotAllowed(APIError):
    status_code = 405
    code = "method_not_allowed"


class Conflict(APIError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(APIError):
    status_code = 412
    code = "precondition_failed"


class PayloadTooLarge(APIError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(APIError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidRequestBody(APIError):
    """422: the body is well-formed but asks for something that cannot be done."""

    status_code = 422
    code = "invalid_request"


class IdempotencyKeyReused(InvalidRequestBody):
    code = "idempotency_key_reused"


class ValidationFailed(APIError):
    """422: one or more fields are invalid; `errors` lists each."""

    status_code = 422
    code = "validation_error"

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        first = errors[0]
        count = len(errors)
        message = first["message"] if count == 1 else f"{count} fields are invalid."
        super().__init__(message, field=first.get("field"), extra={"errors": list(errors)})

    @classmethod
    def one(cls, field: str, message: str, code: str = "invalid") -> ValidationFailed:
        return cls([{"field": field, "code": code, "message": message}])


class RateLimited(APIError):
    status_code = 429
    code = "rate_limit_exceeded"


class ServiceUnavailable(APIError):
    status_code = 503
    code = "service_unavailable"


# --- OpenAPI: the schema of the error body, declared on every route ---------------------------


class FieldError(BaseModel):
    field: str
    code: str
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    field: str | None = None
    doc_url: str | None = None
    resource: str | None = Field(default=None, description="404 only: the kind of object.")
    id: str | None = Field(default=None, description="404 only: the id that was asked for.")
    errors: list[FieldError] | None = Field(default=None, description="validation_error only.")
    existing_id: str | None = Field(default=None, description="409 on a duplicate email.")
    merged_into: str | None = Field(default=None, description="contact_merged only.")
    items: list[dict[str, Any]] | None = Field(
        default=None, description="bulk_failed only: each failed item and its error."
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed request: bad JSON, or an unknown or out-of-range parameter value.",
    401: "Missing, unknown or revoked API key.",
    403: "Not allowed.",
    404: "No such object in this workspace and mode.",
    409: "Conflict with the current state (duplicate email, object in use, state change).",
    412: "If-Match did not match the current ETag.",
    413: "Request body too large.",
    415: "Request body is not JSON.",
    422: "Invalid fields; `errors` lists each.",
    429: "Rate limit exceeded; see Retry-After.",
    500: "Unexpected error (no details are given out).",
    503: "The database is unreachable.",
}

COMMON_ERRORS = (400, 401, 413, 415, 422, 429, 500, 503)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given statuses plus the ones every route can give."""
    wanted = sorted(set(statuses) | set(COMMON_ERRORS))
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in wanted}


# --- handlers -----------------------------------------------------------------------------------


def error_response(error: APIError) -> JSONBody:
    return JSONBody(error.body(), status_code=error.status_code, headers=error.headers)


def _field_name(location: Iterable[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


_CODE_NAMES = {
    "extra_forbidden": "unknown_field",
    "missing": "required",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "value_error": "invalid",
    "model_attributes_type": "invalid_type",
    "dict_type": "invalid_type",
}
# Pydantic's error types for a body that is missing or not a JSON object at all.
_NOT_AN_OBJECT = ("missing", "model_attributes_type", "dict_type", "model_type")


def from_validation_error(error: RequestValidationError) -> APIError:
    """FastAPI's validation errors in our shape: 400 for the query and JSON, 422 for fields."""
    details = list(error.errors())
    if _before_dependencies(error):
        return InvalidRequest("The request body is not valid JSON.", field="body")
    if any(isinstance(d.get("input"), bytes) for d in details):
        return UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    for detail in details:
        where = (detail.get("loc") or ("body",))[0]
        if where in ("query", "path", "header"):
            name = _field_name(detail.get("loc", ()))
            return InvalidParameter(f"Invalid value for '{name}': {detail['msg']}.", field=name)
    if any(
        tuple(d.get("loc", ())) == ("body",) and d.get("type") in _NOT_AN_OBJECT for d in details
    ):
        # An absent body, `null`, an array or a string cannot be read as the object expected.
        return InvalidRequest("The request body must be a JSON object.", field="body")
    fields = []
    for detail in details:
        kind = str(detail.get("type", "invalid"))
        name = _field_name(detail.get("loc", ()))
        message = str(detail.get("msg", "Invalid value"))
        if kind == "extra_forbidden":
            message = f"Unknown field '{name}'."
        elif kind == "missing":
            message = f"'{name}' is required."
        # Pydantic prefixes the text of a ValueError raised by our own validators.
        message = message.removeprefix("Value error, ")
        fields.append({"field": name, "code": _CODE_NAMES.get(kind, kind), "message": message})
    return ValidationFailed(fields)


def _before_dependencies(error: RequestValidationError) -> bool:
    """FastAPI parses the JSON before it solves a route's dependencies: a body that is not
    JSON is refused before the API key is looked at."""
    return any(d.get("type") == "json_invalid" for d in error.errors())


def allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, for the `Allow` header a 405 must carry
    (Starlette would name only the first route that matched the path)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if compile_path(template)[0].match(request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def install_error_handlers(
    app: FastAPI, check_caller: Callable[[Request], Awaitable[object]] | None = None
) -> None:
    """`check_caller` runs for a request refused before its dependencies ran (a body that is
    not JSON): a refusal of the caller (401, 429) is answered instead of the 400, and the
    caller's rate-limit headers go out with the 400."""

    async def on_api_error(_: Request, error: Exception) -> JSONBody:
        assert isinstance(error, APIError)
        return error_response(error)

    async def unless_caller_refused(request: Request, answer: APIError) -> JSONBody:
        if check_caller is not None:
            try:
                await check_caller(request)
            except APIError as refusal:
                answer = refusal
        return error_response(answer)

    async def on_validation_error(request: Request, error: Exception) -> JSONBody:
        assert isinstance(error, RequestValidationError)
        answer = from_validation_error(error)
        if _before_dependencies(error):
            return await unless_caller_refused(request, answer)
        return error_response(answer)

    async def on_http_error(request: Request, error: Exception) -> JSONBody:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 404:
            return error_response(NotFoundRoute(f"No route for {request.url.path}."))
        if error.status_code == 413:
            return error_response(PayloadTooLarge(str(error.detail)))
        if error.status_code == 405:
            allow = {"Allow": ", ".join(allowed_methods(request))}
            message = f"{request.method} is not allowed here."
            return error_response(MethodNotAllowed(message, headers=allow))
        if error.status_code == 400:
            # FastAPI's own refusal of a body it could not parse (not UTF-8, nested too deep),
            # also before the route's dependencies ran.
            unreadable = InvalidRequest(
                "The request body cannot be read as UTF-8 JSON or form data.", field="body"
            )
            return await unless_caller_refused(request, unreadable)
        generic = APIError(str(error.detail))
        generic.status_code = error.status_code
        return error_response(generic)

    async def on_database_down(_: Request, error: Exception) -> JSONBody:
        # Connection failures and SQLite's "database is locked" are worth retrying.
        log.error("database unavailable: %s", type(error).__name__)
        return error_response(ServiceUnavailable("The database is unreachable; try again."))

    async def on_integrity_error(_: Request, error: Exception) -> JSONBody:
        # A unique rule (email, primary contact, key) lost a race with a concurrent request
        # after our own checks passed: the transaction rolled back, nothing was written.
        log.info("integrity conflict: %s", type(error).__name__)
        return error_response(
            Conflict("This conflicts with a change made at the same moment; retry the request.")
        )

    async def on_unexpected(request: Request, error: Exception) -> JSONBody:
        log.exception("unexpected error", exc_info=error)
        # Starlette runs this handler outside every middleware, so the request id the
        # middleware would have added is copied here from the request state it set.
        request_id = getattr(request.state, "request_id", None)
        return JSONBody(
            {"error": {"code": "internal_error", "message": "An unexpected error occurred."}},
            status_code=500,
            headers={"X-Request-Id": request_id} if request_id else None,
        )

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(OperationalError, on_database_down)
    app.add_exception_handler(InterfaceError, on_database_down)
    app.add_exception_handler(ConnectionError, on_database_down)
    app.add_exception_handler(Exception, on_unexpected)


class NotFoundRoute(APIError):
    status_code = 404
    code = "not_found"
