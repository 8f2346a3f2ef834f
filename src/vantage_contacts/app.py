"""create_app(): the API, its middleware, error handlers and routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from vantage_contacts import __version__
from vantage_contacts.auth.api_key import check_api_caller
from vantage_contacts.clients.endpoints import router as clients_router
from vantage_contacts.config import Settings, get_settings
from vantage_contacts.contacts.bulk_endpoints import router as bulk_router
from vantage_contacts.contacts.endpoints import router as contacts_router
from vantage_contacts.docs import install_docs
from vantage_contacts.duplicates.endpoints import router as duplicates_router
from vantage_contacts.duplicates.merge_endpoints import router as merge_router
from vantage_contacts.errors import install_error_handlers
from vantage_contacts.events.endpoints import router as events_router
from vantage_contacts.gctune import tune_garbage_collector
from vantage_contacts.imports.endpoints import router as imports_router
from vantage_contacts.logs import configure_logging
from vantage_contacts.middleware import RequestContextMiddleware
from vantage_contacts.ops.endpoints import router as ops_router
from vantage_contacts.portal.api import router as portal_api_router
from vantage_contacts.portal.pages import router as portal_pages_router
from vantage_contacts.runtime import Runtime
from vantage_contacts.tickets.endpoints import router as tickets_router
from vantage_contacts.webhooks.endpoints import router as webhooks_router
from vantage_contacts.worker import run_worker

DESCRIPTION = """
The Contacts API of the Vantage agency-management platform: the people at your client
companies, their roles, portal access and email preferences.

Authenticate with an API key: `Authorization: Bearer vnt_sk_live_…` (or `vnt_sk_test_…` for
test mode, whose data never mixes with live data). Errors always have the shape
`{"error": {"code", "message", ...}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    tune_garbage_collector()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.from_settings(settings)
        app.state.runtime = runtime
        stop = asyncio.Event()
        worker = None
        if settings.run_worker:
            worker = asyncio.create_task(run_worker(runtime.database, settings, stop))
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                with suppress(asyncio.CancelledError):
                    await asyncio.wait_for(worker, timeout=20)
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
    install_error_handlers(app, check_caller=check_api_caller)
    install_docs(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        large_bodies={"/v1/contacts/imports": settings.max_import_bytes},
    )
    routers = (
        ops_router,
        clients_router,
        portal_api_router,
        # Before /v1/contacts/{contact_id}, which would match "bulk", "imports", "duplicates".
        bulk_router,
        imports_router,
        duplicates_router,
        contacts_router,
        tickets_router,
        events_router,
        webhooks_router,
        merge_router,
        portal_pages_router,
    )
    for router in routers:
        app.include_router(router)
    return app
