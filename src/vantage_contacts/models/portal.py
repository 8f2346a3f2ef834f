from sqlalchemy import Column, Index, PrimaryKeyConstraint, String, Table, Text

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns

# Single-use links (invitation, password reset). Only the SHA-256 of the token is kept.
portal_tokens = Table(
    "portal_tokens",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("purpose", String(16), nullable=False),  # invitation, reset
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_portal_tokens_contact", "workspace_id", "contact_id"),
)

# Browser sessions. A visitor gets one before logging in (it carries the CSRF token of the
# login form); logging in replaces it with a new one bound to the contact. Looked up by the
# hash of the cookie before any workspace is known, like API keys.
portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("csrf_token", String(64), nullable=False),
    Column("workspace_id", ID, nullable=True),
    Column("mode", String(4), nullable=True),
    Column("contact_id", ID, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_portal_sessions_contact", "workspace_id", "contact_id"),
    Index("ix_portal_sessions_expires", "expires_at"),
)

# "Forgot password" requests, answered identically whatever the address; the worker looks
# the address up and sends the reset links, so the page's timing says nothing either.
portal_reset_requests = Table(
    "portal_reset_requests",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email_key", Text, nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("processed_at", UTCDateTime(), nullable=True),
    Index("ix_portal_reset_requests_pending", "processed_at", "requested_at"),
)
