"""Create the generations table.

Revision ID: 0001
Revises:
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Spelled out rather than imported from tables.py: a migration must keep describing the schema of its
    # own revision when tables.py moves on.
    op.create_table(
        "generations",
        sa.Column("generation_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False, server_default="image"),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("backend", sa.String(16)),
        sa.Column("variant", sa.String(16)),
        sa.Column("billed", sa.Boolean, nullable=False),
        sa.Column("endpoint_id", sa.String(64)),
        sa.Column("external_job_id", sa.String(128)),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("img2img", sa.Boolean, nullable=False),
        sa.Column("prompt_hash", sa.String(64)),
        sa.Column("prompt", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("delay_ms", sa.Integer),
        sa.Column("execution_ms", sa.Integer),
        sa.Column("total_ms", sa.Integer),
        sa.Column("billed_seconds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("usd_per_second", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("estimated_cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("avoided_cost_usd", sa.Float, nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_generations_day", "generations", ["day", "billed", "status", "cost_usd", "avoided_cost_usd"]
    )
    op.create_index(
        "ix_generations_user_day",
        "generations",
        ["user_id", "day", "billed", "status", "cost_usd", "estimated_cost_usd"],
    )


def downgrade() -> None:
    op.drop_index("ix_generations_user_day", table_name="generations")
    op.drop_index("ix_generations_day", table_name="generations")
    op.drop_table("generations")
