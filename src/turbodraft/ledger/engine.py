"""One SQLAlchemy engine per process: SQLite in WAL mode by default, any SQLAlchemy URL by configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (summaries) run beside the writer; synchronous=NORMAL is durable across process
    # crashes in WAL mode and avoids an fsync on every commit, which is what makes cheap inserts cheap.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _is_sqlite_file(url: URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and not database.startswith("file:")


def create_ledger_engine(url: str | URL) -> Engine:
    """An engine for `url`; for a SQLite file the parent folder is created and WAL is switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if _is_sqlite_file(parsed):
        Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
    # The pool hands connections to whichever worker thread asks; each is used by one thread at a time.
    engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine
