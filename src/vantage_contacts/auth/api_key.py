"""The API-key dependency: authenticates, counts the request against the key's rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vantage_contacts.auth import keys
from vantage_contacts.auth.subject import Actor, Subject
from vantage_contacts.errors import RateLimited, Unauthorized
from vantage_contacts.runtime import get_runtime

# auto_error=False: a missing header is answered by us, in our error shape.
_bearer = HTTPBearer(
    auto_error=False, description="An API key: `vnt_sk_live_…` or `vnt_sk_test_…`."
)


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Subject:
    if credentials is None:
        raise Unauthorized("Missing API key. Send it as 'Authorization: Bearer vnt_sk_…'.")
    secret = credentials.credentials
    if not keys.looks_like_key(secret):
        raise Unauthorized("Invalid API key.")
    runtime = get_runtime(request)
    async with runtime.database.read() as conn:
        record = await keys.find_active(conn, secret)
    if record is None:
        raise Unauthorized("Invalid or revoked API key.")
    if record.last_used_stale:
        async with runtime.database.write() as conn:
            await keys.touch(conn, record.id)

    decision = await runtime.limiter.hit(record.id)
    # The middleware copies these onto whatever response goes out, errors included.
    request.state.rate_limit_headers = decision.headers()
    request.state.api_key_id = record.id
    if not decision.allowed:
        raise RateLimited(
            f"Too many requests. Retry after {decision.retry_after} seconds.",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return Subject(tenant=record.tenant, actor=Actor("api_key", record.id))


ApiKey = Annotated[Subject, Depends(authenticate)]


async def check_api_caller(request: Request) -> None:
    """The key of a request refused before its dependencies ran, checked and counted as
    `authenticate` would; nothing for a request sent without one outside /v1 (the portal)."""
    credentials = await _bearer(request)
    if credentials is None and not request.url.path.startswith("/v1/"):
        return
    await authenticate(request, credentials)
