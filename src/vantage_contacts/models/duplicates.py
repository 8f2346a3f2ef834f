from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns

# Blocking keys of every live contact, kept on write: candidates for a contact are the
# contacts that share a key with it, found with one indexed join instead of all pairs.
duplicate_keys = Table(
    "duplicate_keys",
    metadata,
    *tenant_columns(),
    Column("contact_id", ID, nullable=False),
    Column("key", Text, nullable=False),
    PrimaryKeyConstraint("workspace_id", "contact_id", "key"),
    Index("ix_duplicate_keys_key", "workspace_id", "mode", "key"),
)

# Scored candidate pairs (contact_a < contact_b), refreshed by the worker whenever either
# contact's name, email or phones change: listing duplicates is then a read, at any size.
duplicate_pairs = Table(
    "duplicate_pairs",
    metadata,
    *tenant_columns(),
    Column("contact_a", ID, nullable=False),
    Column("contact_b", ID, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("match_reason", String(40), nullable=False),
    Column("reasons", JSON, nullable=False),
    PrimaryKeyConstraint("workspace_id", "mode", "contact_a", "contact_b"),
    Index("ix_duplicate_pairs_confidence", "workspace_id", "mode", "confidence"),
    Index("ix_duplicate_pairs_b", "workspace_id", "mode", "contact_b"),
)

# Contacts whose pairs need scoring again (written with the change, emptied by the worker).
duplicate_checks = Table(
    "duplicate_checks",
    metadata,
    *tenant_columns(),
    Column("contact_id", ID, nullable=False),
    Column("queued_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "mode", "contact_id"),
    Index("ix_duplicate_checks_queued", "queued_at"),
)

# Pairs someone said are not duplicates; never suggested again. contact_a < contact_b.
dismissed_pairs = Table(
    "dismissed_pairs",
    metadata,
    *tenant_columns(),
    Column("contact_a", ID, nullable=False),
    Column("contact_b", ID, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("workspace_id", "mode", "contact_a", "contact_b"),
)

# Every merge, with what is needed to undo it.
merges = Table(
    "merges",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("survivor_id", ID, nullable=False),
    Column("merged_id", ID, nullable=False),
    Column("survivor_before", JSON, nullable=False),
    Column("merged_before", JSON, nullable=False),
    Column("survivor_after", JSON, nullable=False),
    Column("merged_after_version", Integer, nullable=False),
    Column("moved", JSON, nullable=False),
    Column("actor_type", String(16), nullable=False),
    Column("actor_id", ID, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("undone_at", UTCDateTime(), nullable=True),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_merges_listing", "workspace_id", "mode", "created_at", "id"),
    Index("ix_merges_survivor", "workspace_id", "survivor_id"),
    Index("ix_merges_merged", "workspace_id", "merged_id"),
)
