"""Batched writes: record_many and the group-commit writer thread keep record()'s idempotency."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from turbodraft.ledger import Ledger, LedgerWriter, NewGeneration, WriterClosed


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as opened:
        yield opened


def draft(generation_id: str, user_id: str = "ana") -> NewGeneration:
    return NewGeneration(
        generation_id=generation_id,
        user_id=user_id,
        priority="draft",
        target="browser",
        width=512,
        height=512,
        steps=1,
    )


def count(ledger: Ledger) -> int:
    return ledger.summary().today.local_count


def test_record_many_reports_which_items_were_new(ledger: Ledger) -> None:
    ledger.record(draft("a"))
    assert ledger.record_many([draft("a"), draft("b"), draft("c"), draft("b")]) == [False, True, True, False]
    assert count(ledger) == 3


def test_record_many_of_nothing_is_nothing(ledger: Ledger) -> None:
    assert ledger.record_many([]) == []


def test_the_writer_records_what_is_submitted_and_flags_repeats(ledger: Ledger) -> None:
    with LedgerWriter(ledger) as writer:
        first, repeat = writer.submit(draft("a")), writer.submit(draft("a"))
        assert (first.result(timeout=10), repeat.result(timeout=10)) == (True, False)
    assert count(ledger) == 1


def test_closing_the_writer_flushes_everything_submitted(ledger: Ledger) -> None:
    writer = LedgerWriter(ledger, max_batch=7)
    futures = [writer.submit(draft(f"g{i}")) for i in range(100)]
    writer.close()
    assert all(f.done() and f.result() for f in futures)
    assert count(ledger) == 100


def test_a_closed_writer_refuses_new_records(ledger: Ledger) -> None:
    writer = LedgerWriter(ledger)
    writer.close()
    with pytest.raises(WriterClosed):
        writer.submit(draft("late"))


def test_many_threads_share_one_writer_without_losing_records(ledger: Ledger) -> None:
    with LedgerWriter(ledger) as writer:

        def work(worker: int) -> None:
            for future in [writer.submit(draft(f"{worker}-{i}")) for i in range(250)]:
                assert future.result(timeout=30)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert count(ledger) == 1000


def test_a_failing_batch_fails_its_futures_and_the_writer_keeps_going(ledger: Ledger) -> None:
    with LedgerWriter(ledger) as writer:
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE generations RENAME TO generations_away")
        failed = writer.submit(draft("x"))
        with pytest.raises(OperationalError, match="no such table"):
            failed.result(timeout=10)
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE generations_away RENAME TO generations")
        assert writer.submit(draft("y")).result(timeout=10) is True


async def test_the_writer_can_be_awaited_from_asyncio(ledger: Ledger) -> None:
    with LedgerWriter(ledger) as writer:
        assert await asyncio.wrap_future(writer.submit(draft("a"))) is True
