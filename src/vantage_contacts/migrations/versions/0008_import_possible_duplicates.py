"""import jobs report possible duplicates

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("flagged_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("possible_duplicates", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.drop_column("possible_duplicates")
        batch_op.drop_column("flagged_count")
