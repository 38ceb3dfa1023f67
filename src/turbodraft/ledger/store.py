"""The cost ledger: records every generation, tracks job progress, and answers cost and usage questions."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from turbodraft.config import Settings
from turbodraft.ledger.engine import create_ledger_engine
from turbodraft.ledger.migrate import upgrade_schema
from turbodraft.ledger.records import (
    ALLOWED_PREDECESSORS,
    LIVE_STATUSES,
    CostSummary,
    DayTotals,
    GenerationRow,
    InvalidTransition,
    JobStatus,
    LegacyBreakdown,
    LegacyCostSummary,
    LegacyTotals,
    NewGeneration,
    PeriodTotals,
    Pricing,
    Savings,
    UnknownGeneration,
    UserUsage,
)
from turbodraft.ledger.tables import generations as t
from turbodraft.routing.cost import cloud_cost_usd, runpod_billed_seconds
from turbodraft.routing.schema import Priority

Clock = Callable[[], datetime]

# Statements built once: building SQLAlchemy expressions costs more than running these queries on SQLite.
_GET = sa.select(t).where(t.c.generation_id == sa.bindparam("generation_id"))
_TODAYS = (t.c.user_id == sa.bindparam("user_id")) & (t.c.day == sa.bindparam("day"))
_COUNT_TODAY = sa.select(sa.func.count()).where(_TODAYS)
# Only billed rows carry money, and the (user_id, day, billed, ...) index finds just those.
_BILLED_TODAY = sa.select(
    sa.func.count(),
    sa.func.coalesce(sa.func.sum(t.c.cost_usd), 0.0),
).where(_TODAYS, t.c.billed == sa.true())
# Reservations sit on live rows (any target: a free first attempt holds what its billed fallback may spend).
_RESERVED_TODAY = sa.select(sa.func.coalesce(sa.func.sum(t.c.reserved_usd), 0.0)).where(
    t.c.user_id == sa.bindparam("user_id"), t.c.status.in_(LIVE_STATUSES), t.c.day == sa.bindparam("day")
)


def _committed_expression(user_id: str, day: str) -> sa.ColumnElement[float]:
    """Spent plus reserved, as one SQL expression (for the check-and-insert of record_within_budget)."""
    spent = (
        sa.select(sa.func.coalesce(sa.func.sum(t.c.cost_usd), 0.0))
        .where(t.c.user_id == user_id, t.c.day == day, t.c.billed == sa.true())
        .scalar_subquery()
    )
    reserved = (
        sa.select(sa.func.coalesce(sa.func.sum(t.c.reserved_usd), 0.0))
        .where(t.c.user_id == user_id, t.c.status.in_(LIVE_STATUSES), t.c.day == day)
        .scalar_subquery()
    )
    return spent + reserved


def utc_now() -> datetime:
    return datetime.now(UTC)


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the ledger writes is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _billed_seconds(billed_seconds: int | None, execution_ms: int | None) -> int | None:
    if billed_seconds is not None:
        return billed_seconds
    if execution_ms is not None:
        return runpod_billed_seconds(execution_ms / 1000)
    return None


class Ledger:
    """Thread-safe; create one per process (it owns its engine) and close it at shutdown."""

    def __init__(
        self,
        engine: Engine,
        pricing: Pricing | None = None,
        *,
        store_prompts: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.pricing = pricing or Pricing()
        self.store_prompts = store_prompts
        self._clock = clock
        self._insert = self._idempotent_insert()

    @classmethod
    def open(
        cls,
        url: str,
        pricing: Pricing | None = None,
        *,
        store_prompts: bool = False,
        clock: Clock = utc_now,
        migrate: bool = True,
    ) -> Ledger:
        """Connect to `url` and, unless told otherwise, migrate the schema to the newest revision."""
        engine = create_ledger_engine(url)
        if migrate:
            upgrade_schema(engine)
        return cls(engine, pricing, store_prompts=store_prompts, clock=clock)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utc_now) -> Ledger:
        return cls.open(
            settings.ledger_url,
            Pricing.from_settings(settings),
            store_prompts=settings.store_prompts,
            clock=clock,
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------------------

    def _idempotent_insert(self) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            return sqlite.insert(t).on_conflict_do_nothing(index_elements=[t.c.generation_id])
        if dialect == "postgresql":
            return postgresql.insert(t).on_conflict_do_nothing(index_elements=[t.c.generation_id])
        return None

    def _row_values(self, gen: NewGeneration) -> dict[str, Any]:
        now = self._clock()
        created = _as_utc(gen.created_at or now)
        billed = gen.is_billed
        rate = self.pricing.usd_per_second
        seconds = _billed_seconds(gen.billed_seconds, gen.execution_ms) if billed else None
        if billed:
            avoided = 0.0
        else:
            typical = (
                self.pricing.final_typical_seconds
                if gen.priority is Priority.FINAL
                else self.pricing.draft_typical_seconds
            )
            avoided = cloud_cost_usd(runpod_billed_seconds(typical), rate)
        return {
            "generation_id": gen.generation_id,
            "user_id": gen.user_id,
            "created_at": created,
            "updated_at": _as_utc(now),
            "day": created.date().isoformat(),
            "kind": "image",
            "priority": gen.priority.value,
            "target": gen.target.value,
            "backend": gen.backend.value if gen.backend else None,
            "variant": gen.variant.value if gen.variant else None,
            "billed": billed,
            "endpoint_id": gen.endpoint_id,
            "external_job_id": gen.external_job_id,
            "width": gen.width,
            "height": gen.height,
            "steps": gen.steps,
            "img2img": gen.img2img,
            "prompt_hash": prompt_hash(gen.prompt) if gen.prompt is not None else None,
            "prompt": gen.prompt if self.store_prompts else None,
            "status": gen.status.value,
            "error": gen.error,
            "delay_ms": gen.delay_ms,
            "execution_ms": gen.execution_ms,
            "total_ms": gen.total_ms,
            "billed_seconds": seconds or 0,
            "usd_per_second": rate,
            "cost_usd": cloud_cost_usd(seconds, rate) if seconds else 0.0,
            "estimated_cost_usd": gen.estimated_cost_usd if billed else 0.0,
            "avoided_cost_usd": avoided,
            "job_id": gen.job_id,
            "client_id": gen.client_id,
            "reserved_usd": gen.reservation_usd if not gen.status.terminal else 0.0,
            "owner_id": gen.owner_id,
            "lease_expires_at": _as_utc(gen.lease_expires_at) if gen.lease_expires_at else None,
        }

    def record(self, gen: NewGeneration) -> bool:
        """Add `gen`; False (and nothing changes) when its generation_id is already recorded."""
        values = self._row_values(gen)
        with self.engine.begin() as conn:
            if self._insert is not None:
                return conn.execute(self._insert, values).rowcount == 1
            try:
                with conn.begin_nested():
                    conn.execute(t.insert(), values)
            except IntegrityError:
                return False
            return True

    def record_within_budget(self, gen: NewGeneration, limit_usd: float) -> bool:
        """Add `gen` only if its reservation fits beside what its user has committed today; False if not.

        The check and the insert are one statement (one transaction on PostgreSQL, behind a per-user advisory
        lock), so two requests, from one gateway or several, cannot both fit into the same remaining budget.
        An id already recorded raises IntegrityError: a reserving caller makes its ids up.
        """
        values = self._row_values(gen)
        committed = _committed_expression(gen.user_id, values["day"])
        amount = float(values["reserved_usd"])
        columns = list(values)
        row = sa.select(*[sa.literal(values[c], type_=t.c[c].type) for c in columns]).where(
            committed + amount <= limit_usd + 1e-9
        )
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(gen.user_id))))
            inserted = conn.execute(t.insert().from_select(columns, row)).rowcount
        return bool(inserted == 1)

    def record_many(self, gens: Sequence[NewGeneration]) -> list[bool]:
        """Add several generations in one transaction (one commit): per item, True if it was new.

        An id already in the ledger, or repeated earlier in `gens`, gives False and changes nothing.
        """
        if not gens:
            return []
        if self._insert is None:
            return [self.record(g) for g in gens]
        rows = [self._row_values(g) for g in gens]
        ids = [r["generation_id"] for r in rows]
        with self.engine.begin() as conn:
            existing = set(
                conn.execute(sa.select(t.c.generation_id).where(t.c.generation_id.in_(ids))).scalars()
            )
            conn.execute(self._insert, rows)
        fresh: list[bool] = []
        for generation_id in ids:
            fresh.append(generation_id not in existing)
            existing.add(generation_id)
        return fresh

    def update_status(
        self,
        generation_id: str,
        status: JobStatus | str,
        *,
        error: str | None = None,
        external_job_id: str | None = None,
        delay_ms: int | None = None,
        execution_ms: int | None = None,
        total_ms: int | None = None,
        billed_seconds: int | None = None,
        then_record: NewGeneration | None = None,
    ) -> bool:
        """Move a job along queued -> running -> completed/failed/cancelled, recording timings and cost.

        A final status releases the row's budget reservation and lease. `then_record` adds the job's next
        attempt in the same transaction, so its reservation is in place the moment this one's is released.

        Returns False when the job already is in that final status (a repeated webhook, say) and nothing
        changed. Raises UnknownGeneration, or InvalidTransition for a move the lifecycle does not allow.
        """
        status = JobStatus(status)  # a plain string from an API is checked here, ValueError if unknown
        for name, value in (("delay_ms", delay_ms), ("execution_ms", execution_ms), ("total_ms", total_ms)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if billed_seconds is not None and billed_seconds < 0:
            raise ValueError(f"billed_seconds must not be negative, got {billed_seconds}")

        changes: dict[str, Any] = {"status": status.value, "updated_at": self._clock()}
        optional = {
            "error": error,
            "external_job_id": external_job_id,
            "delay_ms": delay_ms,
            "execution_ms": execution_ms,
            "total_ms": total_ms,
        }
        changes.update({k: v for k, v in optional.items() if v is not None})
        seconds = _billed_seconds(billed_seconds, execution_ms)
        if seconds is not None:
            # Local rows stay free whatever timings they report; the rate is the one stored with the row.
            changes["billed_seconds"] = sa.case((t.c.billed, seconds), else_=0)
            changes["cost_usd"] = sa.case((t.c.billed, seconds * t.c.usd_per_second), else_=0.0)

        if status.terminal:
            changes["reserved_usd"] = 0.0
            changes["lease_expires_at"] = None

        allowed = [s.value for s in ALLOWED_PREDECESSORS[status]]
        statement = (
            t.update().where(t.c.generation_id == generation_id, t.c.status.in_(allowed)).values(changes)
        )
        with self.engine.begin() as conn:
            if conn.execute(statement).rowcount == 1:
                if then_record is not None:
                    conn.execute(t.insert(), self._row_values(then_record))
                return True
            current = conn.execute(sa.select(t.c.status).where(t.c.generation_id == generation_id)).scalar()
        if current is None:
            raise UnknownGeneration(generation_id)
        current_status = JobStatus(current)
        if current_status is status and status.terminal:
            return False
        raise InvalidTransition(generation_id, current_status, status)

    def set_external_id(self, generation_id: str, external_job_id: str) -> None:
        """Note the provider's job id as soon as it is known, so a crash mid-job can still be reconciled."""
        statement = (
            t.update()
            .where(t.c.generation_id == generation_id, t.c.status.in_(LIVE_STATUSES))
            .values(external_job_id=external_job_id, updated_at=self._clock())
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    # --- leases (which gateway runs a live row) ------------------------------------------------------

    def renew_leases(self, owner_id: str, until: datetime) -> int:
        """Extend the lease of every live row `owner_id` holds; the number renewed."""
        statement = (
            t.update()
            .where(t.c.owner_id == owner_id, t.c.status.in_(LIVE_STATUSES))
            .values(lease_expires_at=_as_utc(until))
        )
        with self.engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def live_rows_not_owned_by(self, owner_id: str, limit: int = 500) -> list[GenerationRow]:
        """Queued or running rows of other (or no) owners: the candidates for reconciliation."""
        query = (
            sa.select(t)
            .where(t.c.status.in_(LIVE_STATUSES), sa.or_(t.c.owner_id.is_(None), t.c.owner_id != owner_id))
            .order_by(t.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_to_row(r) for r in conn.execute(query).mappings()]

    def claim(self, generation_id: str, expected_owner: str | None, owner_id: str, until: datetime) -> bool:
        """Take a live row over from `expected_owner` (None: unowned); False when someone else got there first."""
        held = t.c.owner_id.is_(None) if expected_owner is None else t.c.owner_id == expected_owner
        statement = (
            t.update()
            .where(t.c.generation_id == generation_id, t.c.status.in_(LIVE_STATUSES), held)
            .values(owner_id=owner_id, lease_expires_at=_as_utc(until), updated_at=self._clock())
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(statement).rowcount == 1)

    def release(self, generation_id: str, owner_id: str) -> bool:
        """Give a live row up for reconciliation (its owner cannot settle it); its reservation stays held."""
        statement = (
            t.update()
            .where(t.c.generation_id == generation_id, t.c.status.in_(LIVE_STATUSES), t.c.owner_id == owner_id)
            .values(owner_id=None, lease_expires_at=_as_utc(self._clock()), updated_at=self._clock())
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(statement).rowcount == 1)

    # --- reading ---------------------------------------------------------------------------------------

    def get(self, generation_id: str) -> GenerationRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET, {"generation_id": generation_id}).mappings().first()
        return _to_row(row) if row is not None else None

    def attempts(self, job_id: str) -> list[GenerationRow]:
        """Every attempt of a gateway job, first attempt first."""
        query = sa.select(t).where(t.c.job_id == job_id).order_by(t.c.created_at, t.c.generation_id)
        with self.engine.connect() as conn:
            return [_to_row(r) for r in conn.execute(query).mappings()]

    def today(self) -> date:
        return _as_utc(self._clock()).date()

    def usage_today(self, user_id: str) -> UserUsage:
        """The user's generations and spend on the current UTC day."""
        day = self.today().isoformat()
        params = {"user_id": user_id, "day": day}
        with self.engine.connect() as conn:
            generations = int(conn.execute(_COUNT_TODAY, params).scalar_one())
            cloud, spent = conn.execute(_BILLED_TODAY, params).one()
            reserved = conn.execute(_RESERVED_TODAY, params).scalar_one()
        return UserUsage(
            user_id=user_id,
            day=date.fromisoformat(day),
            generations=generations,
            cloud_generations=int(cloud),
            spent_usd=round(float(spent), 6),
            reserved_usd=round(float(reserved), 6),
        )

    def committed_usd_today(self, user_id: str) -> float:
        """Spent plus reserved (in-flight estimates) today: the figure a budget check needs, and only that.

        Cheaper than usage_today: it reads the user's billed and live rows only, not their (many, free) drafts.
        """
        params = {"user_id": user_id, "day": self.today().isoformat()}
        with self.engine.connect() as conn:
            _, spent = conn.execute(_BILLED_TODAY, params).one()
            reserved = conn.execute(_RESERVED_TODAY, params).scalar_one()
        return round(float(spent) + float(reserved), 6)

    def summary(self, days: int = 30, user_id: str | None = None) -> CostSummary:
        """Today, this month (UTC), a per-day series of `days` days ending today, and the savings.

        One user's figures when `user_id` is given, else the whole ledger's.
        """
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        today = self.today()
        month_start = today.replace(day=1)
        series_start = today - timedelta(days=days - 1)
        by_day = self._totals_by_day(min(month_start, series_start), today, user_id)

        def period(start: date) -> PeriodTotals:
            return _add(v for d, v in by_day.items() if start <= d <= today)

        month = period(month_start)
        all_runpod = round(month.cloud_cost_usd + month.avoided_cost_usd, 6)
        series = [
            DayTotals(
                day=d, **by_day.get(d, PeriodTotals()).model_dump(exclude={"total_count", "total_cost_usd"})
            )
            for d in (series_start + timedelta(days=i) for i in range(days))
        ]
        return CostSummary(
            generated_at=_as_utc(self._clock()),
            today=period(today),
            this_month=month,
            days=series,
            savings=Savings(
                actual_cost_usd=month.total_cost_usd,
                all_runpod_cost_usd=all_runpod,
                saved_usd=round(month.avoided_cost_usd, 6),
                saved_fraction=round(month.avoided_cost_usd / all_runpod, 4) if all_runpod else 0.0,
            ),
        )

    def legacy_summary(self, user_id: str | None = None) -> LegacyCostSummary:
        """GET /costs/summary as the canvas app's client expects it. All generations here are images."""
        summary = self.summary(days=1, user_id=user_id)

        def legacy(p: PeriodTotals) -> LegacyTotals:
            return LegacyTotals(local=p.local_cost_usd, runpod=p.cloud_cost_usd, total=p.total_cost_usd)

        return LegacyCostSummary(
            today=legacy(summary.today),
            this_month=legacy(summary.this_month),
            breakdown=LegacyBreakdown(image=summary.this_month.total_cost_usd),
        )

    def _totals_by_day(self, first: date, last: date, user_id: str | None) -> dict[date, PeriodTotals]:
        completed = t.c.status == JobStatus.COMPLETED.value
        query = (
            sa.select(
                t.c.day,
                t.c.billed,
                sa.func.coalesce(sa.func.sum(sa.case((completed, 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(t.c.cost_usd), 0.0),
                sa.func.coalesce(sa.func.sum(sa.case((completed, t.c.avoided_cost_usd), else_=0.0)), 0.0),
            )
            .where(t.c.day >= first.isoformat(), t.c.day <= last.isoformat())
            .group_by(t.c.day, t.c.billed)
        )
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        totals: dict[date, PeriodTotals] = {}
        with self.engine.connect() as conn:
            for day, billed, count, cost, avoided in conn.execute(query):
                if billed:
                    part = PeriodTotals(cloud_count=int(count), cloud_cost_usd=float(cost))
                else:
                    part = PeriodTotals(local_count=int(count), avoided_cost_usd=float(avoided))
                key = date.fromisoformat(day)
                totals[key] = _add([totals[key], part]) if key in totals else _add([part])
        return totals


def _add(parts: Iterable[PeriodTotals]) -> PeriodTotals:
    items = list(parts)
    return PeriodTotals(
        local_count=sum(p.local_count for p in items),
        cloud_count=sum(p.cloud_count for p in items),
        local_cost_usd=round(sum(p.local_cost_usd for p in items), 6),
        cloud_cost_usd=round(sum(p.cloud_cost_usd for p in items), 6),
        avoided_cost_usd=round(sum(p.avoided_cost_usd for p in items), 6),
    )


def _to_row(row: Mapping[Any, Any]) -> GenerationRow:
    values = dict(row)
    values["created_at"] = _as_utc(values["created_at"])
    values["updated_at"] = _as_utc(values["updated_at"])
    if values.get("lease_expires_at") is not None:
        values["lease_expires_at"] = _as_utc(values["lease_expires_at"])
    values["day"] = date.fromisoformat(values["day"])
    return GenerationRow.model_validate(values)
