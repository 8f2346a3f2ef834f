from sqlalchemy import Column, Index, PrimaryKeyConstraint, String, Table, Text, text

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns, timestamps

clients = Table(
    "clients",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("name_folded", Text, nullable=False),  # folding can lengthen a name
    Column("website", String(2048), nullable=True),
    Column("phone", String(64), nullable=True),
    Column("email_slug", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("notes", Text, nullable=True),
    *timestamps(),
    Column("deleted_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_clients_listing", "workspace_id", "mode", "created_at", "id"),
    Index(
        "uq_clients_email_slug",
        "workspace_id",
        "mode",
        "email_slug",
        unique=True,
        sqlite_where=text("deleted_at IS NULL"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
)
