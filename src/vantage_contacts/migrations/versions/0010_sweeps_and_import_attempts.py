"""idempotency keys are swept by age; import jobs count their failed attempts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.drop_column("attempts")
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
