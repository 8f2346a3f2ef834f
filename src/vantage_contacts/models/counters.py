from sqlalchemy import Column, Integer, PrimaryKeyConstraint, String, Table

from vantage_contacts.models.base import ID, metadata

# Per-tenant sequences (ticket numbers), bumped with UPDATE … RETURNING inside the transaction.
counters = Table(
    "counters",
    metadata,
    Column("workspace_id", ID, nullable=False),
    Column("mode", String(4), nullable=False),
    Column("name", String(32), nullable=False),
    Column("value", Integer, nullable=False),
    PrimaryKeyConstraint("workspace_id", "mode", "name"),
)
