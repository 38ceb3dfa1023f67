"""Cost ledger: every generation with its timings and cost, on SQLite (WAL) or any SQLAlchemy database."""

from turbodraft.ledger.engine import create_ledger_engine
from turbodraft.ledger.migrate import current_revision, head_revision, upgrade_schema
from turbodraft.ledger.records import (
    CLIENT_ID_PREFIX,
    LIVE_STATUSES,
    CostSummary,
    DayTotals,
    GenerationRow,
    InvalidTransition,
    JobStatus,
    LedgerError,
    LegacyCostSummary,
    NewGeneration,
    PeriodTotals,
    Pricing,
    Savings,
    UnknownGeneration,
    UserUsage,
    client_generation_id,
    new_generation_id,
)
from turbodraft.ledger.store import Ledger, prompt_hash
from turbodraft.ledger.writer import LedgerWriter, WriterClosed

__all__ = [
    "CLIENT_ID_PREFIX",
    "LIVE_STATUSES",
    "CostSummary",
    "DayTotals",
    "GenerationRow",
    "InvalidTransition",
    "JobStatus",
    "Ledger",
    "LedgerError",
    "LedgerWriter",
    "LegacyCostSummary",
    "NewGeneration",
    "PeriodTotals",
    "Pricing",
    "Savings",
    "UnknownGeneration",
    "UserUsage",
    "WriterClosed",
    "client_generation_id",
    "create_ledger_engine",
    "current_revision",
    "head_revision",
    "new_generation_id",
    "prompt_hash",
    "upgrade_schema",
]
