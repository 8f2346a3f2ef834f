from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
)

from vantage_contacts.models.base import UTCDateTime, metadata, tenant_columns

# One row per Idempotency-Key, kept 24 hours.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    *tenant_columns(),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    # in_progress → committed (the change is in, written with it) → done (response stored)
    Column("status", String(16), nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("response_headers", JSON, nullable=True),
    Column("response_body", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("locked_until", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("workspace_id", "mode", "key"),
    Index("ix_idempotency_keys_created", "created_at"),  # the sweep of expired keys
)
