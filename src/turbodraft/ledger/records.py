"""What goes into the ledger and what comes out of it, as typed models."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from turbodraft.config import DEFAULT_GPU_USD_PER_SECOND, Settings
from turbodraft.routing.schema import BackendHint, ModelVariant, Priority, Target


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
#: Statuses of a job still in flight: it holds its reservation and its lease.
LIVE_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)

#: The statuses a job may be in before moving to the key's status.
ALLOWED_PREDECESSORS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(),
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED}),
    JobStatus.COMPLETED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
}


class LedgerError(Exception):
    """Base of the ledger's own errors."""


class UnknownGeneration(LedgerError, LookupError):
    def __init__(self, generation_id: str) -> None:
        super().__init__(f"no generation {generation_id!r} in the ledger")
        self.generation_id = generation_id


class InvalidTransition(LedgerError, ValueError):
    def __init__(self, generation_id: str, current: JobStatus, requested: JobStatus) -> None:
        super().__init__(
            f"generation {generation_id!r} is {current.value}; it cannot become {requested.value}"
        )
        self.generation_id = generation_id
        self.current = current
        self.requested = requested


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices applied when a row is written: the GPU's $/s and the typical RunPod seconds of an image."""

    usd_per_second: float = DEFAULT_GPU_USD_PER_SECOND
    final_typical_seconds: float = 8.0
    draft_typical_seconds: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricing:
        return cls(
            settings.gpu_usd_per_second, settings.final_typical_seconds, settings.draft_typical_seconds
        )


def new_generation_id() -> str:
    return uuid.uuid4().hex


#: Generation ids of browser reports start with this; gateway ids (hex digits, "-<n>") never contain ":".
CLIENT_ID_PREFIX = "b:"


def client_generation_id(user_id: str, client_id: str) -> str:
    """The ledger id of a browser report: its own id space, one per user.

    Derived (not the client's id itself) so a report can never take the id of a gateway attempt, and two users
    who happen to pick the same id each get their row.
    """
    digest = hashlib.sha256(f"{user_id}\n{client_id}".encode()).hexdigest()
    return CLIENT_ID_PREFIX + digest[:40]


#: Client-supplied ids are kept to a safe alphabet: they end up in URLs and logs.
GenerationId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Millis = Annotated[int, Field(ge=0)]


class NewGeneration(BaseModel):
    """One generation to record. Defaults describe a completed image; a cloud job starts as queued."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generation_id: GenerationId = Field(default_factory=new_generation_id)
    user_id: str = Field(min_length=1, max_length=128)
    priority: Priority
    target: Target
    backend: BackendHint | None = None
    variant: ModelVariant | None = None
    #: None means "billed when the target is runpod"; pass False for the local RunPod-compatible server.
    billed: bool | None = None
    endpoint_id: str | None = Field(default=None, max_length=64)
    external_job_id: str | None = Field(default=None, max_length=128)
    width: int = Field(ge=1, le=16384)
    height: int = Field(ge=1, le=16384)
    steps: int = Field(ge=1, le=1000)
    img2img: bool = False
    prompt: str | None = None
    status: JobStatus = JobStatus.COMPLETED
    error: str | None = None
    delay_ms: Millis | None = None
    execution_ms: Millis | None = None
    total_ms: Millis | None = None
    #: Seconds RunPod billed, when known; otherwise derived from execution_ms (rounded up).
    billed_seconds: int | None = Field(default=None, ge=0)
    #: The router's estimate of this attempt's cost.
    estimated_cost_usd: float = Field(default=0.0, ge=0)
    #: What the row holds against the user's budget while queued or running; None: the estimate when billed.
    reserved_usd: float | None = Field(default=None, ge=0)
    #: The job this attempt belongs to; a browser report's own id (see client_generation_id).
    job_id: str | None = Field(default=None, max_length=64)
    client_id: str | None = Field(default=None, max_length=64)
    #: The gateway instance running it and until when that claim holds (see gateway/instance.py).
    owner_id: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def is_billed(self) -> bool:
        return self.target is Target.RUNPOD if self.billed is None else self.billed

    @property
    def reservation_usd(self) -> float:
        if self.reserved_usd is not None:
            return self.reserved_usd
        return self.estimated_cost_usd if self.is_billed else 0.0


class GenerationRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    generation_id: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    day: date
    kind: str
    priority: Priority
    target: Target
    backend: BackendHint | None
    variant: ModelVariant | None
    billed: bool
    endpoint_id: str | None
    external_job_id: str | None
    width: int
    height: int
    steps: int
    img2img: bool
    prompt_hash: str | None
    prompt: str | None
    status: JobStatus
    error: str | None
    delay_ms: int | None
    execution_ms: int | None
    total_ms: int | None
    billed_seconds: int
    usd_per_second: float
    cost_usd: float
    estimated_cost_usd: float
    avoided_cost_usd: float
    job_id: str | None = None
    client_id: str | None = None
    reserved_usd: float = 0.0
    owner_id: str | None = None
    lease_expires_at: datetime | None = None


class UserUsage(BaseModel):
    """A user's generations and spend today (UTC), for budgets and rate decisions."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    day: date
    generations: int
    cloud_generations: int
    #: Cost of billed work so far (completed or failed jobs).
    spent_usd: float
    #: Money held for the user's jobs still queued or running (estimates of the billed work they may do).
    reserved_usd: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def committed_usd(self) -> float:
        """What a new final must fit beside: money spent plus money already promised to running jobs."""
        return round(self.spent_usd + self.reserved_usd, 6)


class PeriodTotals(BaseModel):
    model_config = ConfigDict(frozen=True)

    local_count: int = 0
    cloud_count: int = 0
    local_cost_usd: float = 0.0
    cloud_cost_usd: float = 0.0
    #: What the local images would have cost on RunPod.
    avoided_cost_usd: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_count(self) -> int:
        return self.local_count + self.cloud_count

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_cost_usd(self) -> float:
        return round(self.local_cost_usd + self.cloud_cost_usd, 6)


class DayTotals(PeriodTotals):
    day: date


class Savings(BaseModel):
    """This month against the counterfactual of sending every image to RunPod."""

    model_config = ConfigDict(frozen=True)

    actual_cost_usd: float
    all_runpod_cost_usd: float
    saved_usd: float
    #: Share of the all-RunPod cost that was saved, 0..1 (0 when nothing was generated).
    saved_fraction: float


class CostSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    generated_at: datetime
    today: PeriodTotals
    this_month: PeriodTotals
    #: One entry per day, oldest first, days without generations included as zeros.
    days: list[DayTotals]
    savings: Savings


class LegacyTotals(BaseModel):
    local: float
    runpod: float
    total: float


class LegacyBreakdown(BaseModel):
    text: float = 0.0
    image: float = 0.0
    video: float = 0.0
    code: float = 0.0


class LegacyCostSummary(BaseModel):
    """The shape the canvas app's client reads from GET /costs/summary (costs in USD)."""

    today: LegacyTotals
    this_month: LegacyTotals
    breakdown: LegacyBreakdown
