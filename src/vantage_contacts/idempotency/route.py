"""Idempotency-Key on routes: a dependency that claims the key (or replays the first answer)
and a route class that stores the answer once the endpoint has produced it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from vantage_contacts.auth.api_key import ApiKey
from vantage_contacts.db import before_commit
from vantage_contacts.errors import (
    APIError,
    InvalidParameter,
    error_response,
)
from vantage_contacts.idempotency import store
from vantage_contacts.runtime import get_runtime

REPLAYED = "Idempotent-Replayed"
# Headers that describe this one response, not the result: never replayed.
_NOT_REPLAYED = {"content-length", "x-request-id", "date", "server"}


class Replay(Exception):
    def __init__(self, stored: store.Stored) -> None:
        self.stored = stored


def _applies(request: Request) -> bool:
    return request.method == "POST" or (
        request.method in ("PUT", "DELETE") and request.url.path.endswith("/bulk")
    )


async def idempotency_key(
    request: Request,
    subject: ApiKey,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Retrying with the same key and body within 24 hours replays the first "
            "answer instead of acting again.",
        ),
    ] = None,
) -> None:
    if key is None or not _applies(request):
        return
    if not key.isprintable():
        raise InvalidParameter(
            "Idempotency-Key must be 1 to 255 printable characters.", field="Idempotency-Key"
        )
    runtime = get_runtime(request)
    body = await _body(request)
    fingerprint = store.request_hash(
        request.method, request.url.path, request.url.query, store.canonical(body)
    )
    # Keys claimed before bodies were compared by meaning (up to a day before an upgrade, or
    # by a process not yet upgraded) hold the hash of the bytes as sent.
    as_sent = store.request_hash(request.method, request.url.path, request.url.query, body)
    outcome = await store.begin(runtime.database, subject.tenant, key, fingerprint, as_sent)
    if isinstance(outcome, store.Stored):
        raise Replay(outcome)
    request.state.idempotency = outcome
    claim = outcome

    async def mark(conn: AsyncConnection) -> None:
        await store.mark_committed(conn, claim)

    before_commit.set((*before_commit.get(), mark))


async def _body(request: Request) -> bytes:
    """The request's content. A form upload has been parsed (and its stream consumed) by the
    time dependencies run, so its fields and files are read from the parsed form."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await request.body()
    parts = []
    for name, value in (await request.form()).multi_items():
        if isinstance(value, UploadFile):
            content = await value.read()
            await value.seek(0)
            parts.append(f"{name}:{value.filename}:".encode() + content)
        else:
            parts.append(f"{name}={value}".encode())
    return b"\x00".join(parts)


Idempotent = Depends(idempotency_key)


class IdempotentRoute(APIRoute):
    """Stores the answer of a request that claimed an Idempotency-Key; replays stored ones."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except Replay as replay:
                return _replayed(replay.stored)
            except RequestValidationError:
                # The request was refused before the endpoint ran: nothing was done, so the key
                # is not spent and the corrected request may use it (as Stripe does). The
                # app's handler answers.
                await _release_unless_committed(request)
                raise
            except APIError as error:
                response = error_response(error)
            except Exception:
                await _release_unless_committed(request)
                raise
            claim = getattr(request.state, "idempotency", None)
            if claim is not None:
                await _keep(request, claim, response)
            return response

        return run


async def _release_unless_committed(request: Request) -> None:
    """The request ends without an answer to keep: its key is free again, unless its change
    committed (a retry must then not act a second time)."""
    claim = getattr(request.state, "idempotency", None)
    if claim is not None and not claim.committed:
        await store.release(get_runtime(request).database, claim)


async def _keep(request: Request, claim: store.Claim, response: Response) -> None:
    database = get_runtime(request).database
    if response.status_code >= 500:
        if not claim.committed:
            await store.release(database, claim)
        return
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _NOT_REPLAYED}
    await store.finish(
        database, claim, store.Stored(response.status_code, headers, bytes(response.body))
    )


def _replayed(stored: store.Stored) -> Response:
    headers = {**stored.headers, REPLAYED: "true"}
    return Response(stored.body, status_code=stored.status_code, headers=headers)
