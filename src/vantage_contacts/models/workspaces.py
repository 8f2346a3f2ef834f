from sqlalchemy import Column, String, Table

from vantage_contacts.models.base import ID, UTCDateTime, metadata

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)
