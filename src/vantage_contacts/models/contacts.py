from sqlalchemy import (
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from vantage_contacts.models.base import ID, UTCDateTime, metadata, tenant_columns, timestamps

LIVE = text("deleted_at IS NULL")

contacts = Table(
    "contacts",
    metadata,
    *tenant_columns(),
    Column("id", ID, nullable=False),
    Column("client_id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=True),
    Column("phone", String(64), nullable=True),
    Column("mobile", String(64), nullable=True),
    Column("title", String(200), nullable=True),
    Column("department", String(200), nullable=True),
    Column("is_primary", Boolean, nullable=False),
    Column("is_billing", Boolean, nullable=False),
    Column("is_technical", Boolean, nullable=False),
    Column("portal_access", String(8), nullable=False),
    Column("portal_last_login_at", UTCDateTime(), nullable=True),
    Column("portal_invitation_sent_at", UTCDateTime(), nullable=True),
    Column("portal_password_reset_sent_at", UTCDateTime(), nullable=True),
    Column("portal_password_hash", String(200), nullable=True),
    Column("receives_invoices", Boolean, nullable=False),
    Column("receives_reports", Boolean, nullable=False),
    Column("receives_project_updates", Boolean, nullable=False),
    Column("notes", Text, nullable=True),
    # Derived on every write: the forms used for uniqueness, matching, search and sorting.
    Column("email_key", Text, nullable=True),  # casefolding can lengthen an address
    Column("phone_e164", String(20), nullable=True),
    Column("mobile_e164", String(20), nullable=True),
    Column("name_folded", Text, nullable=False),  # folding can lengthen a name
    Column("search_text", Text, nullable=False),
    Column("version", Integer, nullable=False),
    *timestamps(),
    Column("deleted_at", UTCDateTime(), nullable=True),
    Column("merged_into", ID, nullable=True),
    PrimaryKeyConstraint("workspace_id", "id"),
    ForeignKeyConstraint(["workspace_id", "client_id"], ["clients.workspace_id", "clients.id"]),
    Index("ix_contacts_listing", "workspace_id", "mode", "created_at", "id"),
    Index("ix_contacts_client", "workspace_id", "client_id"),
    # Portal login and inbound email find a contact by address before knowing the workspace.
    Index("ix_contacts_email_key", "email_key"),
    Index(
        "uq_contacts_email",
        "workspace_id",
        "mode",
        "email_key",
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    ),
    Index(
        "uq_contacts_primary",
        "workspace_id",
        "client_id",
        unique=True,
        sqlite_where=text("is_primary AND deleted_at IS NULL"),
        postgresql_where=text("is_primary AND deleted_at IS NULL"),
    ),
)
