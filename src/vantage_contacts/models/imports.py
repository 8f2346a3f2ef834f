from sqlalchemy import JSON, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns, timestamps

# CSV import jobs. Rows are processed in chunks; each chunk commits with the job's progress,
# so a job picked up again after a crash resumes after the last committed row.
contact_imports = Table(
    "contact_imports",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("status", String(16), nullable=False),  # pending, completed, failed
    Column("filename", String(300), nullable=True),
    Column("file_hash", String(64), nullable=False),
    Column("csv_text", Text, nullable=False),
    Column("options", JSON, nullable=False),
    Column("total_rows", Integer, nullable=False),
    Column("processed_rows", Integer, nullable=False),
    Column("created_count", Integer, nullable=False),
    Column("failed_count", Integer, nullable=False),
    Column("row_errors", JSON, nullable=False),
    # Created rows that look like contacts already there (the create-time guard), capped.
    Column("flagged_count", Integer, nullable=False, server_default="0"),
    Column("possible_duplicates", JSON, nullable=False, server_default="[]"),
    Column("failure", String(500), nullable=True),
    # Runs started since the job last made progress; the worker gives the job up after a few.
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    *timestamps(),
    PrimaryKeyConstraint("workspace_id", "id"),
    Index("ix_contact_imports_due", "status", "next_attempt_at"),
    Index("ix_contact_imports_file", "workspace_id", "mode", "file_hash"),
)
