"""Settings: defaults with nothing configured, the TOML file, and TURBODRAFT_* variables over both."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from turbodraft.config import Settings
from turbodraft.routing import PolicyConfig


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TURBODRAFT_* variables and no turbodraft.toml in the working directory, whatever the caller has."""
    for name in list(os.environ):
        if name.startswith("TURBODRAFT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_toml(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "conf" / "turbodraft.toml"
    path.parent.mkdir()
    path.write_text(text)
    monkeypatch.setenv("TURBODRAFT_CONFIG", str(path))


def test_defaults_apply_with_no_file_and_no_environment() -> None:
    settings = Settings()
    assert settings.runpod_api_key is None
    assert settings.runpod_base_url == "https://api.runpod.ai/v2"
    assert settings.gpu_usd_per_second == 0.00019
    assert settings.final_typical_seconds > 0
    assert settings.store_prompts is False
    assert (settings.targets.browser, settings.targets.server, settings.targets.runpod) == (True, True, True)
    assert settings.daily_budget_usd is not None and settings.rate_limit_per_minute > 0
    assert settings.draft_speed_bound_ms > 0 and settings.max_body_bytes > 0
    assert settings.api_tokens == []


def test_the_ledger_defaults_to_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    assert settings.ledger_url == f"sqlite:///{tmp_path / 'd' / 'ledger.sqlite'}"


def test_a_database_url_replaces_the_sqlite_default() -> None:
    settings = Settings(database_url="postgresql+psycopg://team@db/turbodraft")
    assert settings.ledger_url == "postgresql+psycopg://team@db/turbodraft"


def test_the_toml_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(
        tmp_path,
        """
        gpu_usd_per_second = 0.00031
        daily_budget_usd = 12.5
        store_prompts = true
        runpod_endpoint_id = "abc123"

        [targets]
        server = false
        """,
        monkeypatch,
    )
    settings = Settings()
    assert settings.gpu_usd_per_second == 0.00031
    assert settings.daily_budget_usd == 12.5
    assert settings.store_prompts is True
    assert settings.runpod_endpoint_id == "abc123"
    assert settings.targets.server is False and settings.targets.browser is True


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_RUNPOD_API_KEY", "rp_secret")
    monkeypatch.setenv("TURBODRAFT_RATE_LIMIT_PER_MINUTE", "30")
    monkeypatch.setenv("TURBODRAFT_TARGETS__SERVER", "false")
    monkeypatch.setenv("TURBODRAFT_API_TOKENS", '["t1", "t2"]')
    settings = Settings()
    assert settings.runpod_api_key is not None and settings.runpod_api_key.get_secret_value() == "rp_secret"
    assert settings.rate_limit_per_minute == 30
    assert settings.targets.server is False
    assert [t.get_secret_value() for t in settings.api_tokens] == ["t1", "t2"]


def test_environment_variables_override_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(tmp_path, "draft_speed_bound_ms = 3000\n", monkeypatch)
    monkeypatch.setenv("TURBODRAFT_DRAFT_SPEED_BOUND_MS", "8000")
    assert Settings().draft_speed_bound_ms == 8000


def test_the_runpod_key_never_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_RUNPOD_API_KEY", "rp_secret")
    assert "rp_secret" not in repr(Settings())


def test_runpod_counts_as_configured_only_with_a_key_and_an_endpoint() -> None:
    assert not Settings(runpod_api_key="k").runpod_cloud_configured
    assert not Settings(runpod_endpoint_id="e").runpod_cloud_configured
    assert not Settings(runpod_api_key="  ", runpod_endpoint_id="e").runpod_cloud_configured
    configured = Settings(runpod_api_key="k", runpod_endpoint_id="e", runpod_base_url="https://x.test/v2/")
    assert configured.runpod_cloud_configured
    assert configured.runpod_url == "https://x.test/v2/e"


def test_without_a_key_runpod_calls_go_to_the_local_compatible_server() -> None:
    settings = Settings(runpod_local_base_url="http://127.0.0.1:9000/v2")
    assert settings.runpod_url == "http://127.0.0.1:9000/v2/local"


@pytest.mark.parametrize(
    "field, value",
    [
        ("gpu_usd_per_second", -1),
        ("daily_budget_usd", -5),
        ("rate_limit_per_minute", -1),
        ("draft_speed_bound_ms", 0),
        ("max_body_bytes", 0),
        ("runpod_base_url", "ftp://runpod"),
        ("targets", {"gpu": True}),
    ],
    ids=[
        "negative-price",
        "negative-budget",
        "negative-rate",
        "zero-bound",
        "zero-body",
        "non-http-url",
        "unknown-target",
    ],
)
def test_invalid_values_are_validation_errors(field: str, value: Any) -> None:
    overrides: dict[str, Any] = {field: value}
    with pytest.raises(ValidationError):
        Settings(**overrides)


def test_an_invalid_environment_value_is_a_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_GPU_USD_PER_SECOND", "cheap")
    with pytest.raises(ValidationError):
        Settings()


def test_policy_config_follows_the_settings() -> None:
    settings = Settings(
        runpod_api_key="k",
        runpod_endpoint_id="e",
        gpu_usd_per_second=0.0005,
        draft_speed_bound_ms=2500,
        targets={"server": False},
    )
    policy = PolicyConfig.from_settings(settings)
    assert (policy.runpod_cloud, policy.server_enabled, policy.browser_enabled) == (True, False, True)
    assert (policy.usd_per_second, policy.draft_speed_bound_ms) == (0.0005, 2500)
