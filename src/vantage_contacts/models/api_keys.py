from sqlalchemy import Column, ForeignKey, Index, String, Table

from vantage_contacts.models.base import ID, UTCDateTime, metadata

# Looked up by hash before the workspace is known, so this is a small reference table.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, ForeignKey("workspaces.id"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_hint", String(40), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ix_api_keys_workspace", "workspace_id", "created_at"),
)
