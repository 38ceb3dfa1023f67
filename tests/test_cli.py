"""The `turbodraft` command's frame: version, doctor, serve's bind guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from turbodraft import __version__
from turbodraft.cli import app
from turbodraft.config import Settings
from turbodraft.gateway.binding import UnsafeBindError, check_bind_allowed, is_loopback

runner = CliRunner()


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_doctor_json_is_valid_json_with_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, ["doctor", "--json"])
    report = json.loads(result.output)
    names = {c["name"] for c in report["checks"]}
    assert {"python", "onnxruntime", "node", "chromium", "data_dir", "free_disk", "finals_provider"} <= names


def test_doctor_exits_nonzero_naming_what_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TURBODRAFT_WEB_DIR", str(tmp_path / "no-build"))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert any(c["name"] == "web_build" and not c["ok"] for c in report["checks"])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com", "::"])
def test_other_addresses_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_serve_refuses_a_public_bind_without_a_token(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no API token is configured" in result.output


def test_a_public_bind_is_allowed_with_a_token_and_host_names(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, api_tokens=["s3cret"], allowed_hosts=["draft.example.com"]  # type: ignore[list-item]
    )
    check_bind_allowed("0.0.0.0", settings)


def test_a_public_bind_without_token_raises() -> None:
    with pytest.raises(UnsafeBindError):
        check_bind_allowed("0.0.0.0", Settings())
