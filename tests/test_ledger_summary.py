"""Cost summaries: today, this month, the per-day series, savings and the canvas app's legacy shape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from turbodraft.ledger import Ledger, NewGeneration, Pricing

RATE = 0.0002
TODAY = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    pricing = Pricing(usd_per_second=RATE, final_typical_seconds=8, draft_typical_seconds=2)
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}", pricing, clock=lambda: TODAY) as opened:
        yield opened


def image(when: datetime, *, cloud: bool = False, seconds: int = 5, **fields: Any) -> NewGeneration:
    values: dict[str, Any] = {
        "user_id": "ana",
        "priority": "final" if cloud else "draft",
        "target": "runpod" if cloud else "browser",
        "width": 512,
        "height": 512,
        "steps": 1,
        "created_at": when,
        "execution_ms": seconds * 1000 if cloud else None,
    }
    return NewGeneration(**{**values, **fields})


def test_an_empty_ledger_summarises_to_zeros(ledger: Ledger) -> None:
    summary = ledger.summary()
    assert summary.today.total_count == 0 and summary.this_month.total_cost_usd == 0
    assert summary.savings.saved_fraction == 0


def test_today_and_this_month_count_local_and_cloud_images_separately(ledger: Ledger) -> None:
    ledger.record(image(TODAY))
    ledger.record(image(TODAY, cloud=True, seconds=5))
    ledger.record(image(TODAY - timedelta(days=3), cloud=True, seconds=10))
    ledger.record(image(TODAY - timedelta(days=20)))  # February: not this month
    summary = ledger.summary()
    assert (summary.today.local_count, summary.today.cloud_count) == (1, 1)
    assert summary.today.cloud_cost_usd == pytest.approx(5 * RATE)
    assert (summary.this_month.local_count, summary.this_month.cloud_count) == (1, 2)
    assert summary.this_month.cloud_cost_usd == pytest.approx(15 * RATE)
    assert summary.this_month.local_cost_usd == 0


def test_a_day_is_a_utc_day(ledger: Ledger) -> None:
    ledger.record(image(datetime(2025, 3, 14, 0, 30, tzinfo=UTC)))
    ledger.record(image(datetime(2025, 3, 13, 23, 30, tzinfo=UTC)))
    assert ledger.summary().today.local_count == 1


def test_the_daily_series_runs_oldest_first_with_empty_days_as_zeros(ledger: Ledger) -> None:
    ledger.record(image(TODAY - timedelta(days=2)))
    days = ledger.summary(days=5).days
    assert [d.day for d in days] == [date(2025, 3, 10) + timedelta(days=i) for i in range(5)]
    assert [d.local_count for d in days] == [0, 0, 1, 0, 0]


def test_the_daily_series_may_reach_back_before_this_month(ledger: Ledger) -> None:
    ledger.record(image(TODAY - timedelta(days=20)))
    summary = ledger.summary(days=30)
    assert sum(d.local_count for d in summary.days) == 1
    assert summary.this_month.local_count == 0


def test_savings_compare_with_sending_every_image_to_runpod(ledger: Ledger) -> None:
    ledger.record(image(TODAY, cloud=True, seconds=4))  # 4 s billed
    ledger.record(image(TODAY))  # a draft: 2 s avoided
    ledger.record(image(TODAY, priority="final"))  # a local final: 8 s avoided
    savings = ledger.summary().savings
    assert savings.actual_cost_usd == pytest.approx(4 * RATE)
    assert savings.all_runpod_cost_usd == pytest.approx(14 * RATE)
    assert savings.saved_usd == pytest.approx(10 * RATE)
    assert savings.saved_fraction == pytest.approx(10 / 14, abs=1e-4)


def test_failed_cloud_jobs_cost_money_but_are_not_counted_as_images(ledger: Ledger) -> None:
    ledger.record(image(TODAY, cloud=True, seconds=3, status="failed", error="boom"))
    today = ledger.summary().today
    assert today.cloud_count == 0
    assert today.cloud_cost_usd == pytest.approx(3 * RATE)


def test_unfinished_local_images_avoid_nothing_yet(ledger: Ledger) -> None:
    ledger.record(image(TODAY, status="running"))
    assert ledger.summary().today.avoided_cost_usd == 0


def test_a_summary_needs_at_least_one_day(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.summary(days=0)


def test_the_legacy_summary_has_the_shape_the_canvas_client_reads(ledger: Ledger) -> None:
    ledger.record(image(TODAY, cloud=True, seconds=5))
    ledger.record(image(TODAY - timedelta(days=1), cloud=True, seconds=5))
    ledger.record(image(TODAY))
    legacy = ledger.legacy_summary().model_dump()
    assert legacy == {
        "today": {"local": 0.0, "runpod": pytest.approx(5 * RATE), "total": pytest.approx(5 * RATE)},
        "this_month": {"local": 0.0, "runpod": pytest.approx(10 * RATE), "total": pytest.approx(10 * RATE)},
        "breakdown": {"text": 0.0, "image": pytest.approx(10 * RATE), "video": 0.0, "code": 0.0},
    }


def test_the_summary_serialises_totals_for_json_clients(ledger: Ledger) -> None:
    ledger.record(image(TODAY))
    data = ledger.summary().model_dump(mode="json")
    assert data["today"]["total_count"] == 1
    assert data["days"][-1] == {
        "day": "2025-03-14",
        "local_count": 1,
        "cloud_count": 0,
        "local_cost_usd": 0.0,
        "cloud_cost_usd": 0.0,
        "avoided_cost_usd": pytest.approx(2 * RATE),
        "total_count": 1,
        "total_cost_usd": 0.0,
    }
