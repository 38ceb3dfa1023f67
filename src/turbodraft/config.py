"""Settings: embedded defaults, overridden by a TOML file and then by TURBODRAFT_* environment variables."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: The TOML file read when present; TURBODRAFT_CONFIG points elsewhere.
DEFAULT_CONFIG_FILE = Path("turbodraft.toml")

#: The repository's web build, used when running from a checkout (editable install).
_REPO_WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"


class Settings(BaseSettings):
    """Everything configurable. Every field has a default, so `turbodraft serve` runs with no file and no env."""

    model_config = SettingsConfigDict(env_prefix="TURBODRAFT_", env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".turbodraft")
    web_dir: Path = _REPO_WEB_DIST
    #: Bearer tokens accepted by the gateway; required before binding a non-loopback address.
    api_tokens: list[SecretStr] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("TURBODRAFT_CONFIG", DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    @cached_property
    def database_path(self) -> Path:
        return self.data_dir / "ledger.sqlite"

    @cached_property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
