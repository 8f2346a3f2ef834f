from sqlalchemy import JSON, Column, Index, PrimaryKeyConstraint, String, Table

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns

# One row per change to a contact: what changed (field, old, new), who did it and when.
activity = Table(
    "activity",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("action", String(40), nullable=False),
    Column("changes", JSON, nullable=False),
    Column("actor_type", String(16), nullable=False),
    Column("actor_id", ID, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_activity_contact", "workspace_id", "contact_id", "created_at"),
)
