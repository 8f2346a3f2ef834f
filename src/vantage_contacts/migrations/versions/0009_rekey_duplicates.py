"""blocking keys of a new matching engine: every live contact is checked again

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 05:30:00

The engine now keys very common names by their first letters too (`y:`) and a nickname by
itself, so contacts stored before keep keys that new contacts cannot meet. Queueing a check
for each makes the background worker write its keys again and score its pairs anew; the data
stays usable meanwhile (`pending_checks` in the listing says how much is left).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from vantage_contacts.models.base import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The time goes in through the column's own type, so SQLite stores it in the form the
    # worker compares it in when it removes the checks it has done.
    now = sa.bindparam("now", datetime.now(UTC), type_=UTCDateTime())
    op.execute(
        sa.text(
            """
            INSERT INTO duplicate_checks (workspace_id, mode, contact_id, queued_at)
            SELECT workspace_id, mode, id, :now FROM contacts
            WHERE deleted_at IS NULL AND merged_into IS NULL
            ON CONFLICT DO NOTHING
            """
        ).bindparams(now)
    )


def downgrade() -> None:
    # Queued checks are work, not data: nothing to undo.
    pass
