"""idempotency keys are swept by age; import jobs count their runs; command-line jobs leave
the worker's queue

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
    _unqueue_command_line_jobs()


def _unqueue_command_line_jobs() -> None:
    """An unfinished job of `vantage-contacts import` (its actor is the system) was queued for
    the worker too; now the command resumes only jobs the worker never takes, so such a job
    leaves the queue and the command can resume it."""
    jobs = sa.table(
        "contact_imports",
        sa.column("workspace_id", sa.String),
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("options", sa.JSON),
        sa.column("next_attempt_at", sa.DateTime),
    )
    bind = op.get_bind()
    pending = sa.select(jobs.c.workspace_id, jobs.c.id, jobs.c.options).where(
        jobs.c.status == "pending"
    )
    for workspace_id, job_id, options in bind.execute(pending).all():
        if ((options or {}).get("actor") or {}).get("type") == "system":
            bind.execute(
                sa.update(jobs)
                .where(jobs.c.workspace_id == workspace_id, jobs.c.id == job_id)
                .values(next_attempt_at=None)
            )


def downgrade() -> None:
    with op.batch_alter_table("contact_imports", schema=None) as batch_op:
        batch_op.drop_column("attempts")
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
