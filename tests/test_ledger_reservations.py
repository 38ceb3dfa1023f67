"""The ledger's side of budgets and crashes: atomic reservations, hand-overs, leases, per-user figures, migration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from tests.test_ledger_store import PRICING, FakeClock, browser_draft, cloud_final
from turbodraft.ledger import JobStatus, Ledger, create_ledger_engine, head_revision
from turbodraft.ledger.migrate import VERSION_TABLE, _config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 14, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}", PRICING, clock=clock) as opened:
        yield opened


def test_a_reservation_that_fits_is_recorded_and_counts_as_committed(ledger: Ledger) -> None:
    assert ledger.record_within_budget(cloud_final(generation_id="a", reserved_usd=0.4), limit_usd=1.0)
    assert ledger.committed_usd_today("ana") == 0.4


def test_a_reservation_that_does_not_fit_is_not_recorded(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="a", reserved_usd=0.7))
    assert not ledger.record_within_budget(cloud_final(generation_id="b", reserved_usd=0.4), limit_usd=1.0)
    assert ledger.get("b") is None and ledger.committed_usd_today("ana") == 0.7


def test_spend_and_reservations_both_count(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="spent", status="completed", billed_seconds=2000))  # 2000 s x RATE
    spent = ledger.committed_usd_today("ana")
    assert ledger.record_within_budget(cloud_final(generation_id="r", reserved_usd=0.1), limit_usd=spent + 0.1)
    assert not ledger.record_within_budget(cloud_final(generation_id="s", reserved_usd=0.01), limit_usd=spent + 0.1)


def test_a_free_row_can_hold_a_reservation(ledger: Ledger) -> None:
    # A server attempt (free) holds what its RunPod fallback may spend.
    server = cloud_final(generation_id="j", target="server", backend="cpu", variant="sd-turbo-int8", billed=False)
    ledger.record(server.model_copy(update={"reserved_usd": 0.5}))
    assert ledger.committed_usd_today("ana") == 0.5
    assert ledger.usage_today("ana").reserved_usd == 0.5


def test_concurrent_reservations_never_overcommit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    Ledger.open(url).close()
    results: list[bool] = []
    lock = threading.Lock()

    def reserve(index: int) -> None:
        ledger = Ledger.open(url, migrate=False)  # its own engine: as a second gateway would
        try:
            fits = ledger.record_within_budget(cloud_final(generation_id=f"g{index}", reserved_usd=0.3), 1.0)
        finally:
            ledger.close()
        with lock:
            results.append(fits)

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 3
    with Ledger.open(url, migrate=False) as ledger:
        assert ledger.committed_usd_today("ana") == 0.9


def test_ending_a_row_releases_its_reservation_and_lease(ledger: Ledger, clock: FakeClock) -> None:
    ledger.record(cloud_final(generation_id="a", reserved_usd=0.5, owner_id="me", lease_expires_at=clock.now))
    ledger.update_status("a", "failed", billed_seconds=3)
    row = ledger.get("a")
    assert row is not None and row.reserved_usd == 0.0 and row.lease_expires_at is None
    assert ledger.committed_usd_today("ana") == round(row.cost_usd, 6)


def test_a_hand_over_moves_the_reservation_in_one_transaction(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j", job_id="j", reserved_usd=0.5))
    ledger.update_status("j", "failed", then_record=cloud_final(generation_id="j-2", job_id="j", reserved_usd=0.5))
    assert ledger.committed_usd_today("ana") == 0.5
    assert [r.generation_id for r in ledger.attempts("j")] == ["j", "j-2"]


def test_a_hand_over_to_a_taken_id_changes_nothing(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j", job_id="j", reserved_usd=0.5))
    ledger.record(browser_draft(generation_id="j-2"))
    try:
        ledger.update_status("j", "failed", then_record=cloud_final(generation_id="j-2", job_id="j"))
    except sa.exc.IntegrityError:
        pass
    else:  # pragma: no cover - the assertion below says what went wrong
        raise AssertionError("a taken id must raise")
    row = ledger.get("j")
    assert row is not None and row.status is JobStatus.QUEUED  # rolled back with the failed insert


def test_leases_are_renewed_claimed_and_released(ledger: Ledger, clock: FakeClock) -> None:
    soon = clock.now + timedelta(seconds=30)
    ledger.record(cloud_final(generation_id="a", owner_id="old", lease_expires_at=clock.now))
    ledger.record(cloud_final(generation_id="done", owner_id="old", status="completed"))
    assert [r.generation_id for r in ledger.live_rows_not_owned_by("me")] == ["a"]
    assert ledger.renew_leases("old", soon) == 1
    assert not ledger.claim("a", "someone-else", "me", soon)
    assert ledger.claim("a", "old", "me", soon)
    assert ledger.live_rows_not_owned_by("me") == []
    assert ledger.release("a", "me")
    row = ledger.get("a")
    assert row is not None and row.owner_id is None and row.status is JobStatus.QUEUED


def test_the_external_id_is_recorded_while_the_job_runs(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="a"))
    ledger.update_status("a", "running")
    ledger.set_external_id("a", "rp-123")
    row = ledger.get("a")
    assert row is not None and row.external_job_id == "rp-123" and row.status is JobStatus.RUNNING


def test_a_summary_can_be_one_users(ledger: Ledger) -> None:
    ledger.record(browser_draft(generation_id="a1"))
    ledger.record(browser_draft(generation_id="b1", user_id="ben"))
    ledger.record(browser_draft(generation_id="b2", user_id="ben"))
    assert ledger.summary(1, user_id="ana").today.local_count == 1
    assert ledger.summary(1, user_id="ben").today.local_count == 2
    assert ledger.summary(1).today.local_count == 3
    assert ledger.legacy_summary("nobody").this_month.total == 0.0


def test_upgrading_from_0001_keeps_in_flight_estimates_reserved(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = create_ledger_engine(url)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "user_id": "ana", "created_at": now, "updated_at": now, "day": now.date().isoformat(), "kind": "image",
        "priority": "final", "target": "runpod", "billed": True, "width": 1024, "height": 1024, "steps": 25,
        "img2img": False, "usd_per_second": 0.00019, "estimated_cost_usd": 0.0016, "cost_usd": 0.0,
        "billed_seconds": 0, "avoided_cost_usd": 0.0,
    }  # fmt: skip
    with engine.begin() as conn:
        table = sa.Table("generations", sa.MetaData(), autoload_with=conn)
        conn.execute(table.insert(), [{**row, "generation_id": "a" * 32, "status": "running"}])
        conn.execute(table.insert(), [{**row, "generation_id": "a" * 32 + "-2", "status": "failed"}])
        conn.execute(table.insert(), [{**row, "generation_id": "d-1", "status": "completed", "target": "browser",
                                       "billed": False}])  # fmt: skip
    engine.dispose()
    with Ledger.open(url) as ledger:
        first, second, report = ledger.get("a" * 32), ledger.get("a" * 32 + "-2"), ledger.get("d-1")
        assert ledger.committed_usd_today("ana") == 0.0016
        with ledger.engine.connect() as conn:
            version = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    assert version == head_revision()
    assert first is not None and first.reserved_usd == 0.0016 and first.job_id == "a" * 32 and first.owner_id is None
    assert second is not None and second.job_id == "a" * 32 and second.reserved_usd == 0.0
    assert report is not None and report.client_id == "d-1" and report.job_id is None
