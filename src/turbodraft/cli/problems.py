"""Problems a person can act on, as one line each: bad settings, a broken config file, an unusable database.

Commands load their settings and open the ledger through here, so a wrong port, a typo in turbodraft.toml, a
wrong database password or a missing database driver ends in `error: <setting>: <what>; <fix>` and a non-zero
exit, never a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from turbodraft.config import DEFAULT_CONFIG_FILE, ConfigFileError, Settings

err = Console(stderr=True)

#: Exit status of a command stopped by its configuration (typer's own usage errors use 2 as well).
CONFIG_EXIT = 2

#: pip packages of the usual SQLAlchemy drivers, by the module a URL's driver imports.
DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
}
_SECRET_FIELDS = {"api_tokens", "runpod_api_key", "signing_key", "database_url"}
_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "([a-z_]+)"')


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(CONFIG_EXIT)


def setting_name(loc: tuple[Any, ...], options: Mapping[str, str]) -> str:
    """`TURBODRAFT_TARGETS__SERVER`, with the command-line option that sets it when there is one."""
    parts = [str(part) for part in loc if not isinstance(part, int)]
    env = "TURBODRAFT_" + "__".join(p.upper() for p in parts) if parts else "settings"
    option = options.get(parts[0]) if parts else None
    return f"{option} / {env}" if option else env


def describe_validation(exc: ValidationError, options: Mapping[str, str]) -> list[str]:
    lines = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        field = str(loc[0]) if loc else ""
        shown = "" if field in _SECRET_FIELDS else f" (got {error.get('input')!r})"
        lines.append(f"{setting_name(loc, options)}: {message}{shown}; fix the value or unset it")
    return lines


def _config_file() -> Path:
    named = os.environ.get("TURBODRAFT_CONFIG")
    return Path(named) if named else DEFAULT_CONFIG_FILE


def load_settings(options: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, the TOML file, the environment and `overrides`; one line per problem, then exit.

    `options` maps field names to the command-line options that set them (`{"port": "--port"}`).
    """
    options = options or {}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = describe_validation(exc, options)
    except ConfigFileError as exc:
        lines = [str(exc)]
    except tomllib.TOMLDecodeError as exc:
        lines = [f"{_config_file()}: not valid TOML: {exc}; fix the file, or point TURBODRAFT_CONFIG elsewhere"]
    except SettingsError as exc:
        found = _FIELD_IN_SETTINGS_ERROR.search(str(exc))
        name = setting_name((found.group(1),), options) if found else "a TURBODRAFT_ setting"
        lines = [f'{name}: cannot be parsed ({exc.__cause__ or exc}); write a JSON list, e.g. \'["a", "b"]\'']
    except OSError as exc:
        lines = [f"{_config_file()}: cannot be read: {exc}"]
    for line in lines[:-1]:
        err.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True, highlight=False)
    fail(lines[-1])


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def database_problem(exc: BaseException, url: str) -> str:
    """One line saying what is wrong with the ledger database and how to fix it."""
    where = f"TURBODRAFT_DATABASE_URL ({redacted(url)})"
    if isinstance(exc, ModuleNotFoundError):
        module = (exc.name or "").split(".")[0]
        package = DRIVER_PACKAGES.get(module, module)
        return f"{where}: its database driver {module!r} is not installed; pip install '{package}'"
    if isinstance(exc, NoSuchModuleError):
        return f"{where}: unknown database dialect or driver ({exc}); use a URL like postgresql+psycopg://..."
    if isinstance(exc, ArgumentError):
        return f"{where}: not a database URL ({exc})"
    if isinstance(exc, DBAPIError):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        return f"{where}: cannot use the database: {first}; check the host, user, password and database name"
    if isinstance(exc, SQLAlchemyError):
        return f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    if isinstance(exc, OSError):
        return f"{where}: cannot create the database file: {exc}; check TURBODRAFT_DATA_DIR"
    return f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def open_ledger_or_exit(settings: Settings) -> None:
    """Open (and migrate) the ledger once, so a bad database stops a command with one line."""
    from turbodraft.ledger import Ledger

    try:
        Ledger.from_settings(settings).close()
    except Exception as exc:  # every way a database can be unusable ends the same way: one line
        fail(database_problem(exc, settings.ledger_url))
