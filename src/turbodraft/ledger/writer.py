"""Group commit for the ledger: callers hand records to one writer thread that commits them in batches.

A commit is the expensive part of a SQLite insert; while one batch commits, the next accumulates, so
under load many records share a commit and the request path only enqueues.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from types import TracebackType

from turbodraft.ledger.records import LedgerError, NewGeneration
from turbodraft.ledger.store import Ledger

_Item = tuple[NewGeneration, "Future[bool]"]


class WriterClosed(LedgerError, RuntimeError):
    def __init__(self) -> None:
        super().__init__("the ledger writer is closed")


class LedgerWriter:
    """Thread-safe. From asyncio code: `await asyncio.wrap_future(writer.submit(gen))`."""

    def __init__(self, ledger: Ledger, *, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.ledger = ledger
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def submit(self, gen: NewGeneration) -> Future[bool]:
        """Queue `gen`; the future gives what Ledger.record would return (False for a repeated id)."""
        future: Future[bool] = Future()
        with self._lock:
            if self._closed:
                raise WriterClosed()
            self._queue.put((gen, future))
        return future

    def close(self, timeout: float | None = 30.0) -> None:
        """Write everything already submitted, then stop the thread. The ledger itself stays open."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch: list[_Item] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Item]) -> None:
        live = [(gen, future) for gen, future in batch if future.set_running_or_notify_cancel()]
        try:
            results = self.ledger.record_many([gen for gen, _ in live])
        except Exception as error:  # the callers own the failure; the writer must keep serving others
            for _, future in live:
                future.set_exception(error)
            return
        for (_, future), fresh in zip(live, results, strict=True):
            future.set_result(fresh)
