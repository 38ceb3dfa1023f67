"""The ledger on a real SQLite file: recording, idempotency, job progress, costs, usage and restarts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from turbodraft.ledger import (
    InvalidTransition,
    JobStatus,
    Ledger,
    NewGeneration,
    Pricing,
    UnknownGeneration,
    prompt_hash,
)

RATE = 0.0002
PRICING = Pricing(usd_per_second=RATE, final_typical_seconds=7.5, draft_typical_seconds=2.0)


class FakeClock:
    """Time under test control; the ledger takes a clock so 'today' can be any day."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 14, 12, 0, tzinfo=UTC))


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite'}"


@pytest.fixture
def ledger(url: str, clock: FakeClock) -> Any:
    with Ledger.open(url, PRICING, clock=clock) as opened:
        yield opened


def browser_draft(**fields: Any) -> NewGeneration:
    values: dict[str, Any] = {
        "user_id": "ana",
        "priority": "draft",
        "target": "browser",
        "backend": "webgpu-fp16",
        "variant": "sd-turbo-fp16",
        "width": 512,
        "height": 512,
        "steps": 1,
        "total_ms": 900,
    }
    return NewGeneration(**{**values, **fields})


def cloud_final(**fields: Any) -> NewGeneration:
    values: dict[str, Any] = {
        "user_id": "ana",
        "priority": "final",
        "target": "runpod",
        "backend": "runpod",
        "variant": "sdxl",
        "width": 1024,
        "height": 1024,
        "steps": 25,
        "status": "queued",
        "estimated_cost_usd": 0.0016,
    }
    return NewGeneration(**{**values, **fields})


def test_a_browser_image_costs_nothing_and_records_the_cloud_cost_it_avoided(ledger: Ledger) -> None:
    ledger.record(browser_draft(generation_id="b1"))
    row = ledger.get("b1")
    assert row is not None
    assert (row.billed, row.cost_usd, row.billed_seconds) == (False, 0.0, 0)
    assert row.avoided_cost_usd == pytest.approx(2 * RATE)


def test_a_local_final_avoids_the_typical_final_rounded_up_to_whole_seconds(ledger: Ledger) -> None:
    ledger.record(browser_draft(generation_id="b1", priority="final", steps=4))
    row = ledger.get("b1")
    assert row is not None and row.avoided_cost_usd == pytest.approx(8 * RATE)


def test_a_repeated_report_of_the_same_client_id_is_not_counted_twice(ledger: Ledger) -> None:
    assert ledger.record(browser_draft(generation_id="client-42")) is True
    assert ledger.record(browser_draft(generation_id="client-42", total_ms=1200)) is False
    assert ledger.summary().today.local_count == 1
    row = ledger.get("client-42")
    assert row is not None and row.total_ms == 900


def test_the_prompt_is_stored_only_as_a_hash_by_default(ledger: Ledger) -> None:
    ledger.record(browser_draft(generation_id="b1", prompt="a red fox"))
    row = ledger.get("b1")
    assert row is not None
    assert row.prompt is None
    assert row.prompt_hash == prompt_hash("a red fox")


def test_the_prompt_is_stored_when_configured(url: str) -> None:
    with Ledger.open(url, store_prompts=True) as ledger:
        ledger.record(browser_draft(generation_id="b1", prompt="a red fox"))
        row = ledger.get("b1")
    assert row is not None and row.prompt == "a red fox"


def test_a_cloud_image_costs_billed_seconds_rounded_up_times_the_rate(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1", status="completed", execution_ms=7300, delay_ms=1800))
    row = ledger.get("j1")
    assert row is not None
    assert row.billed and row.billed_seconds == 8
    assert row.cost_usd == pytest.approx(8 * RATE)
    assert row.delay_ms == 1800


def test_billed_seconds_reported_by_the_provider_override_the_execution_time(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1", status="completed", execution_ms=7300, billed_seconds=10))
    row = ledger.get("j1")
    assert row is not None and row.cost_usd == pytest.approx(10 * RATE)


def test_the_local_runpod_compatible_server_is_not_billed(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1", billed=False, status="completed", execution_ms=9000))
    row = ledger.get("j1")
    assert row is not None
    assert (row.billed, row.cost_usd) == (False, 0.0)
    assert row.avoided_cost_usd == pytest.approx(8 * RATE)


def test_a_cloud_job_moves_from_queued_to_running_to_completed(ledger: Ledger, clock: FakeClock) -> None:
    ledger.record(cloud_final(generation_id="j1"))
    clock.now += timedelta(seconds=2)
    assert ledger.update_status("j1", JobStatus.RUNNING, external_job_id="rp-123", delay_ms=2000)
    clock.now += timedelta(seconds=6)
    assert ledger.update_status("j1", "completed", execution_ms=5200, total_ms=8100)
    row = ledger.get("j1")
    assert row is not None
    assert row.status is JobStatus.COMPLETED
    assert (row.external_job_id, row.delay_ms, row.execution_ms, row.total_ms) == ("rp-123", 2000, 5200, 8100)
    assert row.cost_usd == pytest.approx(6 * RATE)
    assert row.updated_at == clock.now and row.created_at == clock.now - timedelta(seconds=8)


def test_a_failed_cloud_job_still_costs_the_seconds_it_ran(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1"))
    ledger.update_status("j1", JobStatus.FAILED, error="CUDA out of memory", execution_ms=2500)
    row = ledger.get("j1")
    assert row is not None
    assert (row.status, row.error) == (JobStatus.FAILED, "CUDA out of memory")
    assert row.cost_usd == pytest.approx(3 * RATE)


def test_a_queued_job_can_be_cancelled(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1"))
    assert ledger.update_status("j1", JobStatus.CANCELLED)
    row = ledger.get("j1")
    assert row is not None and row.status is JobStatus.CANCELLED and row.cost_usd == 0


def test_a_finished_job_cannot_start_running_again(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1", status="completed"))
    with pytest.raises(InvalidTransition, match="is completed; it cannot become running"):
        ledger.update_status("j1", JobStatus.RUNNING)


def test_a_completed_job_cannot_turn_into_a_failure(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1", status="completed"))
    with pytest.raises(InvalidTransition):
        ledger.update_status("j1", JobStatus.FAILED)


def test_repeating_a_final_status_changes_nothing(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1"))
    ledger.update_status("j1", JobStatus.COMPLETED, execution_ms=4000)
    assert ledger.update_status("j1", JobStatus.COMPLETED, execution_ms=9000) is False
    row = ledger.get("j1")
    assert row is not None and row.billed_seconds == 4


def test_updating_an_unknown_job_raises(ledger: Ledger) -> None:
    with pytest.raises(UnknownGeneration):
        ledger.update_status("nope", JobStatus.RUNNING)


def test_an_unknown_status_name_is_a_value_error(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1"))
    with pytest.raises(ValueError):
        ledger.update_status("j1", "exploded")


def test_negative_timings_are_refused(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1"))
    with pytest.raises(ValueError, match="execution_ms"):
        ledger.update_status("j1", JobStatus.COMPLETED, execution_ms=-1)


@pytest.mark.parametrize(
    "bad",
    [
        {"generation_id": "has spaces"},
        {"generation_id": "x" * 65},
        {"user_id": ""},
        {"width": 0},
        {"target": "mars"},
        {"total_ms": -5},
    ],
    ids=["id-with-spaces", "id-too-long", "empty-user", "zero-width", "unknown-target", "negative-time"],
)
def test_malformed_generations_are_validation_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        browser_draft(**bad)


def test_usage_today_sums_spend_and_holds_back_estimates_of_jobs_in_flight(ledger: Ledger) -> None:
    ledger.record(browser_draft())
    ledger.record(cloud_final(generation_id="done", status="completed", execution_ms=4500))
    ledger.record(cloud_final(generation_id="waiting", estimated_cost_usd=0.002))
    usage = ledger.usage_today("ana")
    assert (usage.generations, usage.cloud_generations) == (3, 2)
    assert usage.spent_usd == pytest.approx(5 * RATE)
    assert usage.reserved_usd == pytest.approx(0.002)
    assert usage.committed_usd == pytest.approx(5 * RATE + 0.002)
    assert ledger.committed_usd_today("ana") == pytest.approx(usage.committed_usd)


def test_usage_today_ignores_other_users_and_other_days(ledger: Ledger, clock: FakeClock) -> None:
    ledger.record(
        cloud_final(
            generation_id="yesterday",
            status="completed",
            execution_ms=1000,
            created_at=clock.now - timedelta(days=1),
        )
    )
    ledger.record(cloud_final(generation_id="bob", user_id="bob", status="completed", execution_ms=1000))
    usage = ledger.usage_today("ana")
    assert (usage.generations, usage.spent_usd) == (0, 0.0)


def test_a_job_reserved_in_flight_stops_counting_as_reserved_once_finished(ledger: Ledger) -> None:
    ledger.record(cloud_final(generation_id="j1", estimated_cost_usd=0.002))
    ledger.update_status("j1", JobStatus.COMPLETED, execution_ms=1000)
    assert ledger.usage_today("ana").reserved_usd == 0


def test_records_survive_a_restart(url: str, clock: FakeClock) -> None:
    first = Ledger.open(url, PRICING, clock=clock)
    first.record(cloud_final(generation_id="j1", status="completed", execution_ms=3000))
    first.record(browser_draft(generation_id="b1"))
    first.close()

    with Ledger.open(url, PRICING, clock=clock) as reopened:
        row = reopened.get("j1")
        assert row is not None and row.cost_usd == pytest.approx(3 * RATE)
        assert reopened.summary().today.total_count == 2
        assert reopened.record(browser_draft(generation_id="b1")) is False


def test_sqlite_runs_in_wal_mode(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_ledger_creates_its_data_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "ledger.sqlite"
    with Ledger.open(f"sqlite:///{path}") as ledger:
        ledger.record(browser_draft())
    assert path.is_file()


def test_concurrent_writers_neither_lose_nor_double_count_records(ledger: Ledger) -> None:
    def write(worker: int) -> None:
        for i in range(100):
            ledger.record(browser_draft(generation_id=f"w{worker}-{i}"))
            ledger.record(browser_draft(generation_id=f"shared-{i}"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM generations").scalar() == 4 * 100 + 100


def test_a_ledger_can_run_on_a_given_engine_without_migrating(url: str) -> None:
    Ledger.open(url).close()
    engine = sa.create_engine(url)
    ledger = Ledger(engine)
    ledger.record(browser_draft(generation_id="b1"))
    assert ledger.get("b1") is not None
    ledger.close()
