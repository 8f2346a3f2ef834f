"""The background worker: webhook deliveries (and, as they come, other outboxes).

Runs inside `vantage-contacts serve` (one per API process) or alone as `vantage-contacts worker`;
any number may run against one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging

from vantage_contacts.config import Settings
from vantage_contacts.db import Database
from vantage_contacts.webhooks.delivery import Deliverer

log = logging.getLogger("vantage_contacts.worker")


async def run_worker(database: Database, settings: Settings, stop: asyncio.Event) -> None:
    deliverer = Deliverer(database, allow_private=settings.allow_private_webhook_urls)
    log.info("worker started")
    try:
        await deliverer.run(stop)
    finally:
        await deliverer.close()
        log.info("worker stopped")
