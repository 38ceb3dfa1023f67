"""The ledger's schema as SQLAlchemy Core tables. Changes here need a migration in migrations/versions/."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

generations = sa.Table(
    "generations",
    metadata,
    # The client's own id for browser-reported images (so a repeated report is not counted twice),
    # otherwise one the gateway made up.
    sa.Column("generation_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # UTC date of created_at as YYYY-MM-DD: "today", "this month" and the per-day series group on it
    # the same way on every database, through an index.
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False, server_default="image"),
    sa.Column("priority", sa.String(8), nullable=False),
    sa.Column("target", sa.String(16), nullable=False),
    sa.Column("backend", sa.String(16)),
    sa.Column("variant", sa.String(16)),
    # True when the image costs money (RunPod proper); the local RunPod-compatible server is not billed.
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
    # Queue wait plus cold start (RunPod's delayTime), worker execution, and wall time seen by the caller.
    sa.Column("delay_ms", sa.Integer),
    sa.Column("execution_ms", sa.Integer),
    sa.Column("total_ms", sa.Integer),
    sa.Column("billed_seconds", sa.Integer, nullable=False, server_default="0"),
    # The rate in force when the row was written, so a later price change does not rewrite history.
    sa.Column("usd_per_second", sa.Float, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("estimated_cost_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("avoided_cost_usd", sa.Float, nullable=False, server_default="0"),
    # The server-side job an attempt belongs to (its first attempt's id); None for browser reports.
    sa.Column("job_id", sa.String(64)),
    # A browser report's own id. Reports live in their own id space (generation_id is derived from the user
    # and this id), so a report can never take the id of a server attempt or of another user's report.
    sa.Column("client_id", sa.String(64)),
    # Money held against the user's daily budget while the row is queued or running: the estimate of the
    # billed work this attempt, or a later fallback of its job, may still spend.
    sa.Column("reserved_usd", sa.Float, nullable=False, server_default="0"),
    # The gateway process running the job and how long its claim lasts without a renewal; a live row whose
    # lease lapsed (or whose owner is known dead) is reconciled by any gateway.
    sa.Column("owner_id", sa.String(64)),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
    # Both indexes cover their queries (no table lookups), so budget checks and summaries stay fast when a
    # user makes thousands of drafts a day.
    sa.Index("ix_generations_day", "day", "billed", "status", "cost_usd", "avoided_cost_usd"),
    sa.Index(
        "ix_generations_user_day", "user_id", "day", "billed", "status", "cost_usd", "estimated_cost_usd"
    ),
    # Reservations: few live rows among a user's many finished ones.
    sa.Index("ix_generations_user_live", "user_id", "status", "day", "reserved_usd"),
    # Reconciliation scans live rows by lease.
    sa.Index("ix_generations_lease", "status", "lease_expires_at", "owner_id"),
    sa.Index("ix_generations_job", "job_id"),
)
