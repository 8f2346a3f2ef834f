from sqlalchemy import (
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns, timestamps

tickets = Table(
    "tickets",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("number", Integer, nullable=False),
    Column("client_id", ID, nullable=False),
    Column("contact_id", ID, nullable=True),
    Column("contact_name", String(200), nullable=True),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=True),
    Column("status", String(20), nullable=False),
    *timestamps(),
    Column("deleted_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("workspace_id", "id"),
    ForeignKeyConstraint(["workspace_id", "client_id"], ["clients.workspace_id", "clients.id"]),
    Index("ix_tickets_listing", "workspace_id", "mode", "created_at", "id"),
    Index("ix_tickets_contact", "workspace_id", "contact_id"),
    Index("ix_tickets_client", "workspace_id", "client_id"),
    Index("uq_tickets_number", "workspace_id", "mode", "number", unique=True),
)
