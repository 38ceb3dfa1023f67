"""Errors a person can act on: each is one line naming the setting and the fix, and a non-zero exit."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import REPO
from tests.runpod_support import API_KEY, StartEndpoint
from turbodraft.cli import app
from turbodraft.config import Settings
from turbodraft.ledger import Ledger, NewGeneration, create_ledger_engine
from turbodraft.ledger.migrate import VERSION_TABLE

pytest_plugins = ["tests.runpod_fixtures"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("TURBODRAFT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def one_clear_line(result: Result, *names: str) -> str:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    text = result.output.strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    for name in names:
        assert name in text, text
    return text


def test_an_out_of_range_port_is_one_line_from_the_real_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURBODRAFT_")}
    done = subprocess.run(
        [sys.executable, "-m", "turbodraft", "serve", "--port", "99999", "--data-dir", str(tmp_path / "d")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "--port / TURBODRAFT_PORT" in line and "65535" in line


def test_a_port_that_is_not_a_number_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_PORT", "abc")
    one_clear_line(invoke("serve"), "TURBODRAFT_PORT", "'abc'")


def test_a_broken_toml_file_names_the_file_and_the_line(tmp_path: Path) -> None:
    (tmp_path / "turbodraft.toml").write_text("daily_budget_usd = 5\nport = \n")
    one_clear_line(invoke("serve"), "turbodraft.toml", "not valid TOML", "line 2")


def test_a_missing_config_file_is_an_error_not_silence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_CONFIG", str(tmp_path / "nope.toml"))
    one_clear_line(invoke("costs"), "TURBODRAFT_CONFIG", "nope.toml")


def test_a_database_that_is_not_one_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ledger.sqlite").write_bytes(b"this is not sqlite" * 100)
    one_clear_line(invoke("costs", "--data-dir", str(data)), "TURBODRAFT_DATABASE_URL", "not a database")


def test_serve_checks_the_database_before_it_listens(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ledger.sqlite").write_bytes(b"garbage" * 100)
    one_clear_line(invoke("serve", "--data-dir", str(data)), "TURBODRAFT_DATABASE_URL")


def test_a_database_driver_that_is_not_installed_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_DATABASE_URL", "postgresql+pg8000://team:hunter2@127.0.0.1:1/turbodraft")
    line = one_clear_line(invoke("serve"), "TURBODRAFT_DATABASE_URL", "pg8000", "pip install")
    assert "hunter2" not in line  # the password is never printed


def test_generate_into_a_missing_directory_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "nonexistent" / "dir" / "x.png"
    result = invoke("generate", "--model", "tiny-sd-turbo", "--prompt", "x", "--out", str(out))
    one_clear_line(result, "--out", "does not exist")
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)])
def test_generate_writes_with_the_usual_permissions(tmp_path: Path, umask: int, mode: int) -> None:
    out = tmp_path / "x.png"
    previous = os.umask(umask)
    try:
        result = invoke("generate", "--model", "tiny-sd-turbo", "--prompt", "x", "--size", "64x64", "--out", str(out))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_help_shows_version_as_a_flag() -> None:
    (line,) = [ln for ln in invoke("--help").output.splitlines() if "--version" in ln]
    assert "<bool>" not in line and "Print the version" in line


def test_costs_reads_the_data_dir_it_is_given(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    with Ledger.from_settings(Settings(data_dir=data)) as ledger:
        for user in ("ana", "ana", "ben"):
            ledger.record(NewGeneration(user_id=user, priority="draft", target="browser", width=64, height=64, steps=1))
    everyone = invoke("costs", "--data-dir", str(data), "--json")
    ana = invoke("costs", "--data-dir", str(data), "--json", "--user", "ana")
    assert everyone.exit_code == 0, everyone.output
    assert json.loads(everyone.output)["today"]["local_count"] == 3
    assert json.loads(ana.output)["today"]["local_count"] == 2


# --- doctor --------------------------------------------------------------------------------------------------


def doctor(*args: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = invoke("doctor", "--json", *args)
    report = json.loads(result.output)
    return result.exit_code, {c["name"]: c for c in report["checks"]}


def test_doctor_reports_a_migrated_database(tmp_path: Path) -> None:
    Ledger.from_settings(Settings(data_dir=tmp_path / "data")).close()
    _, checks = doctor("--data-dir", str(tmp_path / "data"))
    assert checks["database"]["ok"] is True and "reachable" in str(checks["database"]["value"])


def test_doctor_blocks_on_a_missing_database_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_DATABASE_URL", "postgresql+pg8000://u:p@127.0.0.1:1/x")
    code, checks = doctor("--data-dir", str(tmp_path / "data"))
    assert code == 1
    assert checks["database"]["ok"] is False and checks["database"]["blocking"] is True
    assert "pip install" in str(checks["database"]["value"])


def test_doctor_blocks_on_a_database_from_a_newer_turbodraft(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Ledger.from_settings(Settings(data_dir=data)).close()
    engine = create_ledger_engine(f"sqlite:///{data / 'ledger.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    engine.dispose()
    code, checks = doctor("--data-dir", str(data))
    assert code == 1 and "newer" in str(checks["database"]["value"])


def test_doctor_says_an_old_database_will_be_migrated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Ledger.from_settings(Settings(data_dir=data)).close()
    engine = create_ledger_engine(f"sqlite:///{data / 'ledger.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '0001'")
    engine.dispose()
    _, checks = doctor("--data-dir", str(data))
    assert checks["database"]["ok"] is True and "migrates it" in str(checks["database"]["value"])


def test_doctor_asks_runpod_health_when_a_key_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_endpoint: StartEndpoint
) -> None:
    endpoint = start_endpoint()
    monkeypatch.setenv("TURBODRAFT_RUNPOD_API_KEY", API_KEY)
    monkeypatch.setenv("TURBODRAFT_RUNPOD_ENDPOINT_ID", "local")
    monkeypatch.setenv("TURBODRAFT_RUNPOD_BASE_URL", endpoint.base_url)
    _, checks = doctor("--data-dir", str(tmp_path / "data"))
    assert checks["runpod_health"]["ok"] is True and "idle" in str(checks["runpod_health"]["value"])


def test_doctor_blocks_on_a_refused_runpod_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_endpoint: StartEndpoint
) -> None:
    endpoint = start_endpoint()
    monkeypatch.setenv("TURBODRAFT_RUNPOD_API_KEY", "wrong-key")
    monkeypatch.setenv("TURBODRAFT_RUNPOD_ENDPOINT_ID", "local")
    monkeypatch.setenv("TURBODRAFT_RUNPOD_BASE_URL", endpoint.base_url)
    code, checks = doctor("--data-dir", str(tmp_path / "data"))
    assert code == 1
    health = checks["runpod_health"]
    assert health["ok"] is False and health["blocking"] is True and "refused" in str(health["value"])


def test_doctor_blocks_on_an_unreachable_runpod_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("TURBODRAFT_RUNPOD_API_KEY", API_KEY)
    monkeypatch.setenv("TURBODRAFT_RUNPOD_ENDPOINT_ID", "local")
    monkeypatch.setenv("TURBODRAFT_RUNPOD_BASE_URL", f"http://127.0.0.1:{free_port()}/v2")
    code, checks = doctor("--data-dir", str(tmp_path / "data"))
    assert code == 1 and checks["runpod_health"]["blocking"] is True
