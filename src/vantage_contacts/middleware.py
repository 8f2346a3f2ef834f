"""Pure ASGI middleware: request ids, rate-limit headers, a request-size cap and access logs."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vantage_contacts.errors import InvalidParameter, PayloadTooLarge, error_response
from vantage_contacts.kit.ids import new_id

access_log = logging.getLogger("vantage_contacts.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Gives every response an `X-Request-Id` and, on keyed routes, the rate-limit headers."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, large_bodies: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths that take uploads larger than the usual cap (CSV imports).
        self.large_bodies = large_bodies or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or new_id("req")
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status_holder = [500]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                # A 429 already carries its own Retry-After; a second one would read "1, 1".
                present = {name.lower() for name, _ in headers}
                for name, value in state.get("rate_limit_headers", {}).items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        cap = self.large_bodies.get(scope["path"].rstrip("/"), self.max_body_bytes)
        try:
            declared = _content_length(scope)
            if declared is not None and declared > cap:
                response = error_response(_too_large(cap))
                await response(scope, receive, send_with_headers)
                return
            if _has_nul(scope):
                # An id or filter holding U+0000 would reach PostgreSQL, which refuses it.
                response = error_response(InvalidParameter("URLs must not contain %00."))
                await response(scope, receive, send_with_headers)
                return
            await self.app(scope, _capped(receive, cap), send_with_headers)
        finally:
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status_holder[0],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "api_key_id": state.get("api_key_id"),
                },
            )


def _capped(receive: Receive, cap: int) -> Receive:
    """A chunked body is counted as it arrives and refused past the cap."""
    seen = 0

    async def capped_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                # FastAPI re-raises HTTPException from body reading; the handler maps it.
                raise HTTPException(413, _too_large(cap).message)
        return message

    return capped_receive


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SAFE_REQUEST_ID.match(text) else None
    return None


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
