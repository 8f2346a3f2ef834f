from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns, timestamps

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),
    Column("description", String(500), nullable=True),
    Column("status", String(16), nullable=False),
    Column("disabled_reason", String(300), nullable=True),
    # Kept readable: every delivery is signed with it (Standard Webhooks uses HMAC keys).
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100), nullable=True),
    Column("previous_secret_expires_at", UTCDateTime(), nullable=True),
    Column("failing_since", UTCDateTime(), nullable=True),
    *timestamps(),
    Column("deleted_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_webhook_endpoints_tenant", "workspace_id", "mode", "created_at", "id"),
)

# One row per (event, endpoint): the message, sent until it succeeds or retries run out.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("message_id", ID, nullable=False),  # the `webhook-id` header, the same on every retry
    Column("endpoint_id", ID, nullable=False),
    Column("event_id", ID, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending, succeeded, failed
    Column("attempt_count", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    *timestamps(),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_webhook_deliveries_endpoint", "workspace_id", "endpoint_id", "created_at", "id"),
    # The worker's queue: what is due next, across workspaces.
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("workspace_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("delivery_id", ID, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", UTCDateTime(), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", String(500), nullable=True),
    Column("response_excerpt", Text, nullable=True),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_webhook_attempts_delivery", "workspace_id", "delivery_id", "attempt"),
)
