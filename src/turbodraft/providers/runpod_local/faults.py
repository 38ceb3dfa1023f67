"""Fault injection for the local RunPod server: what a flaky network or a broken worker does to a client.

HTTP faults hit the n-th request of an operation (``run``, ``status``, ...); job faults hit the n-th job
*execution* (a job retried through /retry executes again, so a fault on execution 1 lets the retry succeed).
Rules can be given at construction or added while the server runs (from another thread: the plan locks).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    #: Delay the response by ``delay_s`` and then answer normally.
    LATENCY = "latency"
    HTTP_429 = "http_429"
    HTTP_500 = "http_500"
    #: Reset the TCP connection (RST, no response) before the request is processed: nothing happened.
    RESET = "reset"
    #: Process the request, then reset instead of answering: the effect happened but its answer is lost.
    RESET_AFTER = "reset_after"
    #: Job faults: the handler fails, hangs until its ``delay_s`` timeout, or returns a malformed output.
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    MALFORMED_OUTPUT = "malformed_output"

    @property
    def is_job_fault(self) -> bool:
        return self in {FaultKind.FAILED, FaultKind.TIMED_OUT, FaultKind.MALFORMED_OUTPUT}


#: The output a MALFORMED_OUTPUT fault substitutes: an images list whose data URI is not base64.
MALFORMED_OUTPUT: dict[str, object] = {"images": ["data:image/png;base64,@@ not base64 @@"], "seed": 0}

#: The operations a request path maps to (the segment after /v2/{endpoint_id}/).
OPERATIONS = frozenset({"run", "runsync", "status", "cancel", "retry", "purge-queue", "health", "stream"})


@dataclass(frozen=True)
class Fault:
    """Apply ``kind`` to matching requests (or job executions) number ``first`` .. ``first + count - 1``.

    ``ops`` limits HTTP faults to some operations (empty: all of them); ``count=None`` never stops.
    ``delay_s`` is the latency of LATENCY, and how long a TIMED_OUT job runs before it times out.
    """

    kind: FaultKind
    ops: frozenset[str] = frozenset()
    first: int = 1
    count: int | None = 1
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.first < 1 or (self.count is not None and self.count < 1):
            raise ValueError("first and count are 1-based and positive")
        if unknown := self.ops - OPERATIONS:
            raise ValueError(f"unknown operations {sorted(unknown)}")
        if self.delay_s < 0:
            raise ValueError("delay_s must not be negative")

    def covers(self, number: int) -> bool:
        return number >= self.first and (self.count is None or number < self.first + self.count)


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    _requests: dict[str, int] = field(default_factory=dict)
    _executions: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def for_request(self, op: str) -> list[Fault]:
        """Count one request of ``op`` and return the HTTP faults it meets, in the order they were added."""
        with self._lock:
            number = self._requests.get(op, 0) + 1
            self._requests[op] = number
            return [
                fault
                for fault in self.faults
                if not fault.kind.is_job_fault and (not fault.ops or op in fault.ops) and fault.covers(number)
            ]

    def for_execution(self) -> Fault | None:
        """Count one job execution and return the first job fault it meets."""
        with self._lock:
            self._executions += 1
            number = self._executions
            return next((f for f in self.faults if f.kind.is_job_fault and f.covers(number)), None)
