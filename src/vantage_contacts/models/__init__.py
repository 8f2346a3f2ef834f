"""The database schema as SQLAlchemy Core tables, one module per table.

Core rather than the ORM: the hot paths (authentication, get, list, search) run as plain
statements with no identity map or unit-of-work bookkeeping, which costs a fraction of the
CPU per request. Every table carries `workspace_id` (first in every primary key and index)
and `mode`, so the data can be distributed by workspace.
"""

from vantage_contacts.models.activity import activity
from vantage_contacts.models.api_keys import api_keys
from vantage_contacts.models.base import metadata
from vantage_contacts.models.clients import clients
from vantage_contacts.models.contacts import contacts
from vantage_contacts.models.counters import counters
from vantage_contacts.models.duplicates import (
    dismissed_pairs,
    duplicate_checks,
    duplicate_keys,
    duplicate_pairs,
    merges,
)
from vantage_contacts.models.emails import emails
from vantage_contacts.models.events import events
from vantage_contacts.models.idempotency import idempotency_keys
from vantage_contacts.models.imports import contact_imports
from vantage_contacts.models.portal import portal_reset_requests, portal_sessions, portal_tokens
from vantage_contacts.models.tickets import tickets
from vantage_contacts.models.webhooks import webhook_attempts, webhook_deliveries, webhook_endpoints
from vantage_contacts.models.workspaces import workspaces

__all__ = [
    "activity",
    "api_keys",
    "clients",
    "contact_imports",
    "contacts",
    "counters",
    "dismissed_pairs",
    "duplicate_checks",
    "duplicate_keys",
    "duplicate_pairs",
    "emails",
    "events",
    "idempotency_keys",
    "merges",
    "metadata",
    "portal_reset_requests",
    "portal_sessions",
    "portal_tokens",
    "tickets",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "workspaces",
]
