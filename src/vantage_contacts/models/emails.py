from sqlalchemy import JSON, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns, timestamps

# The email outbox: written in the transaction of the change that sends it, sent by the worker.
emails = Table(
    "emails",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("contact_id", ID, nullable=True),
    Column("to_address", String(320), nullable=False),
    Column("template", String(64), nullable=False),
    Column("context", JSON, nullable=False),
    # The one-time link, kept only until the message is sent, then cleared.
    Column("secret_link", Text, nullable=True),
    Column("status", String(16), nullable=False),  # pending, sent, failed
    Column("attempt_count", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
    *timestamps(),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_emails_due", "status", "next_attempt_at"),
    Index("ix_emails_contact", "workspace_id", "contact_id"),
)
