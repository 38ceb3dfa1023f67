"""Schema migrations: shipped in the package, run at open, and in step with the table definitions."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from turbodraft.ledger import Ledger, create_ledger_engine, current_revision, head_revision, upgrade_schema
from turbodraft.ledger.migrate import VERSION_TABLE
from turbodraft.ledger.tables import metadata


def test_opening_a_new_database_migrates_it_to_the_newest_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with Ledger.open(url) as ledger:
        assert current_revision(ledger.engine) == head_revision() is not None


def test_migrating_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    upgrade_schema(engine)
    upgrade_schema(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_the_migrations_build_exactly_the_schema_of_tables_py(tmp_path: Path) -> None:
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    upgrade_schema(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_the_version_table_is_named_for_the_project(tmp_path: Path) -> None:
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    upgrade_schema(engine)
    assert VERSION_TABLE == "turbodraft_alembic_version"
    assert VERSION_TABLE in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_the_migration_scripts_ship_inside_the_package() -> None:
    import turbodraft.ledger.migrations as migrations

    folder = Path(migrations.__file__).parent
    assert (folder / "env.py").is_file()
    assert any(p.name.startswith("0001_") for p in (folder / "versions").glob("*.py"))
