from sqlalchemy import JSON, Column, Index, PrimaryKeyConstraint, String, Table

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns

# The outbox: written in the same transaction as the change it announces.
events = Table(
    "events",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("type", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", ID, nullable=False),
    Column("data", JSON, nullable=False),
    Column("changed_fields", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_events_listing", "workspace_id", "mode", "created_at", "id"),
    Index("ix_events_object", "workspace_id", "object_id"),
)
