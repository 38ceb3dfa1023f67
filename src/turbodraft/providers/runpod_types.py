"""Types of the RunPod Serverless HTTP API shared by the client and the local server."""

from __future__ import annotations

import math
from enum import StrEnum


class JobState(StrEnum):
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @classmethod
    def parse(cls, value: object) -> JobState:
        """The state named by an API response; RunPod also reports a running job as ``RUNNING``."""
        if value == "RUNNING":
            return cls.IN_PROGRESS
        if not isinstance(value, str):
            raise ValueError(f"job status {value!r} is not a string")
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown job status {value!r}") from None


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})

#: RunPod's documented defaults (ms): the execution timeout and the TTL counted from submission.
DEFAULT_EXECUTION_TIMEOUT_MS = 600_000
DEFAULT_TTL_MS = 86_400_000


def billed_seconds(execution_ms: int | None) -> int:
    """Whole seconds billed for a job: RunPod bills per second, rounded up; no execution bills nothing."""
    if not execution_ms or execution_ms <= 0:
        return 0
    return math.ceil(execution_ms / 1000)
