"""create_app(): the API, its middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vantage_contacts import __version__
from vantage_contacts.clients.endpoints import router as clients_router
from vantage_contacts.config import Settings, get_settings
from vantage_contacts.contacts.endpoints import router as contacts_router
from vantage_contacts.docs import install_docs
from vantage_contacts.errors import install_error_handlers
from vantage_contacts.logs import configure_logging
from vantage_contacts.middleware import RequestContextMiddleware
from vantage_contacts.ops.endpoints import router as ops_router
from vantage_contacts.runtime import Runtime
from vantage_contacts.tickets.endpoints import router as tickets_router

DESCRIPTION = """
The Contacts API of the Vantage agency-management platform: the people at your client
companies, their roles, portal access and email preferences.

Authenticate with an API key: `Authorization: Bearer vnt_sk_live_…` (or `vnt_sk_test_…` for
test mode, whose data never mixes with live data). Errors always have the shape
`{"error": {"code", "message", ...}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.from_settings(settings)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="Vantage Contacts API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_error_handlers(app)
    install_docs(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    for router in (ops_router, clients_router, contacts_router, tickets_router):
        app.include_router(router)
    return app
