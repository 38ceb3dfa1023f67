"""Jobs own their attempts, browser reports get their own id space, budgets hold reservations, rows carry leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_LIVE = ("queued", "running")


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("job_id", sa.String(64)))
        batch.add_column(sa.Column("client_id", sa.String(64)))
        batch.add_column(sa.Column("reserved_usd", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("owner_id", sa.String(64)))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True)))
    generations = sa.table(
        "generations",
        sa.column("generation_id", sa.String),
        sa.column("target", sa.String),
        sa.column("billed", sa.Boolean),
        sa.column("status", sa.String),
        sa.column("estimated_cost_usd", sa.Float),
        sa.column("reserved_usd", sa.Float),
        sa.column("job_id", sa.String),
        sa.column("client_id", sa.String),
    )
    # Gateway job ids are 32 hex digits; later attempts were "<job id>-<n>".
    op.execute(
        generations.update()
        .where(generations.c.target != "browser")
        .values(job_id=sa.func.substr(generations.c.generation_id, 1, 32))
    )
    op.execute(
        generations.update().where(generations.c.target == "browser").values(client_id=generations.c.generation_id)
    )
    # Rows in flight at the upgrade keep holding their estimate (they have no owner, so the first
    # reconciliation settles them).
    op.execute(
        generations.update()
        .where(generations.c.billed == sa.true(), generations.c.status.in_(_LIVE))
        .values(reserved_usd=generations.c.estimated_cost_usd)
    )
    op.create_index("ix_generations_user_live", "generations", ["user_id", "status", "day", "reserved_usd"])
    op.create_index("ix_generations_lease", "generations", ["status", "lease_expires_at", "owner_id"])
    op.create_index("ix_generations_job", "generations", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_generations_job", table_name="generations")
    op.drop_index("ix_generations_lease", table_name="generations")
    op.drop_index("ix_generations_user_live", table_name="generations")
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("owner_id")
        batch.drop_column("reserved_usd")
        batch.drop_column("client_id")
        batch.drop_column("job_id")
