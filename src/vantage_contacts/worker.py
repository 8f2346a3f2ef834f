"""The background worker: webhook deliveries, outgoing email, imports, duplicate checks, portal
chores and the sweep of expired idempotency keys, side by side.

Runs inside `vantage-contacts serve` (one per API process) or alone as `vantage-contacts worker`;
any number may run against one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from vantage_contacts.config import Settings
from vantage_contacts.db import Database
from vantage_contacts.duplicates.worker import DuplicateChecker
from vantage_contacts.email.senders import sender_from_settings
from vantage_contacts.email.worker import EmailWorker
from vantage_contacts.idempotency.sweeper import ExpiredKeySweeper
from vantage_contacts.imports.worker import ImportWorker
from vantage_contacts.portal.housekeeping import PortalHousekeeper
from vantage_contacts.webhooks.delivery import Deliverer

log = logging.getLogger("vantage_contacts.worker")


async def run_worker(database: Database, settings: Settings, stop: asyncio.Event) -> None:
    mailer = EmailWorker(database, sender_from_settings(settings), mail_from=settings.mail_from)
    deliverer = Deliverer(
        database,
        allow_private=settings.allow_private_webhook_urls,
        lease=timedelta(seconds=settings.webhook_lease_seconds),
    )
    log.info("worker started")
    try:
        # Both loops end on the same stop event; if one crashes, the group cancels the other.
        async with asyncio.TaskGroup() as group:
            group.create_task(deliverer.run(stop))
            group.create_task(mailer.run(stop))
            group.create_task(PortalHousekeeper(database, settings.public_url).run(stop))
            group.create_task(ImportWorker(database, settings).run(stop))
            group.create_task(DuplicateChecker(database).run(stop))
            group.create_task(ExpiredKeySweeper(database).run(stop))
    finally:
        await deliverer.close()
        log.info("worker stopped")
