"""Settings: embedded defaults, overridden by a TOML file and then by TURBODRAFT_* environment variables."""

from __future__ import annotations

import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: The TOML file read when present; TURBODRAFT_CONFIG points elsewhere.
DEFAULT_CONFIG_FILE = Path("turbodraft.toml")

#: The repository's web build, used when running from a checkout (editable install).
_REPO_WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"

#: The user part of a `user:secret` token; the same alphabet as an X-User-Id.
_TOKEN_USER = re.compile(r"^[A-Za-z0-9._@:-]{1,128}$")


class ConfigFileError(ValueError):
    """TURBODRAFT_CONFIG names a file that is not there (a typo would otherwise run on silent defaults)."""


#: RunPod's 24 GB flex tier (L4/A5000/3090) in USD per second, the cheapest tier that holds SDXL comfortably.
DEFAULT_GPU_USD_PER_SECOND = 0.00019


class TargetToggles(BaseModel):
    """Which generation targets the router may use (TURBODRAFT_TARGETS__SERVER=false and so on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    browser: bool = True
    #: SD-Turbo on the gateway machine through the Python twin of the browser engine.
    server: bool = True
    runpod: bool = True


class Settings(BaseSettings):
    """Everything configurable. Every field has a default: `turbodraft serve` runs with no file and no env."""

    model_config = SettingsConfigDict(env_prefix="TURBODRAFT_", env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path(".turbodraft")
    web_dir: Path = _REPO_WEB_DIST
    #: Bearer tokens accepted by the gateway; required before binding a non-loopback address.
    api_tokens: list[SecretStr] = Field(default_factory=list)
    #: Host names (the Host header, without the port) the gateway answers besides the loopback names, which
    #: are always allowed; "*.example.com" matches subdomains, "*" turns the check off. Binding a
    #: non-loopback address needs at least one, so a DNS-rebound page cannot reach the API.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Signs the capability handles the orchestrator API hands out (job ids and image URLs that work without
    #: naming the user). Default: a random key kept in data_dir; set one shared key for several gateways.
    signing_key: SecretStr | None = None

    # --- RunPod -----------------------------------------------------------------------------------------
    #: Without a key (and endpoint id) finals go to the local RunPod-compatible server instead.
    runpod_api_key: SecretStr | None = None
    runpod_endpoint_id: str | None = None
    runpod_base_url: str = "https://api.runpod.ai/v2"
    #: The local RunPod-compatible server (same HTTP API) used when no RunPod key is configured.
    runpod_local_base_url: str = "http://127.0.0.1:8001/v2"
    #: Price of the endpoint's GPU; RunPod bills whole seconds of worker time.
    gpu_usd_per_second: float = Field(default=DEFAULT_GPU_USD_PER_SECOND, ge=0)
    #: Typical billed seconds of one final (SDXL 1024x1024) and one draft on RunPod: the basis of cost
    #: estimates and of the "cloud cost avoided" recorded for local images.
    final_typical_seconds: float = Field(default=8.0, gt=0)
    draft_typical_seconds: float = Field(default=2.0, gt=0)

    # --- Ledger ------------------------------------------------------------------------------------------
    #: Any SQLAlchemy URL (postgresql+psycopg://... for a team); default: a SQLite file in data_dir.
    database_url: str | None = None
    #: Prompts are stored only as a SHA-256 hash unless this is on.
    store_prompts: bool = False

    # --- Routing and limits ------------------------------------------------------------------------------
    targets: TargetToggles = Field(default_factory=TargetToggles)
    #: Per-user spend limit on cloud finals, per UTC day; None means no limit.
    daily_budget_usd: float | None = Field(default=5.0, ge=0)
    #: Requests per minute per user; 0 disables the limit.
    rate_limit_per_minute: int = Field(default=120, ge=0)
    #: A browser whose measured draft (512x512, 1 step) is slower than this is not used for the real model.
    draft_speed_bound_ms: float = Field(default=5000.0, gt=0)
    #: Largest accepted request body (img2img uploads included).
    max_body_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    #: Largest img2img init image, decoded (a 1024x1024 PNG is a few MB).
    max_init_image_bytes: int = Field(default=8 * 1024 * 1024, gt=0)

    # --- Model mirror ----------------------------------------------------------------------------------------
    #: Whether web pages may ask the gateway to fetch a model into its mirror (the model panel's Download,
    #: `/v1/models/{id}/pull`). Unset: on when binding a loopback address, off otherwise (an admin pulls with
    #: `turbodraft models pull` either way).
    allow_model_pulls: bool | None = None
    #: The Hugging Face Hub endpoint the gateway's pulls use (a mirror of the Hub); default HF_ENDPOINT's.
    hf_endpoint: str | None = None

    # --- Server-side generation ----------------------------------------------------------------------------
    #: What the `server` target and the local RunPod server's sd-turbo handler run: a manifest id or a
    #: model directory. The tiny fixture needs no download; a deployment sets sd-turbo-int8 (or an fp32
    #: build) after `turbodraft models pull`.
    server_model: str = "tiny-sd-turbo"
    #: Generations the server target runs at once (CPU-bound: one by default) and how many may wait.
    server_concurrency: int = Field(default=1, ge=1, le=64)
    server_queue_size: int = Field(default=8, ge=0, le=1024)
    #: A target slower than this hands the job to the next one in the plan.
    server_timeout_s: float = Field(default=120.0, gt=0)
    runpod_timeout_s: float = Field(default=300.0, gt=0)
    #: Without a RunPod key, start the local RunPod-compatible server inside the gateway (on a free
    #: loopback port, with a per-process key); False uses runpod_local_base_url as given instead.
    runpod_local_embedded: bool = True
    #: The embedded local server's job handler (providers.handlers names, or module:function).
    runpod_local_handler: str = "sd-turbo"
    #: A running job's ledger row is leased to the gateway running it and renewed while it runs; a job whose
    #: lease lapses (its gateway died) is reconciled by the next reconciliation pass: asked of RunPod, or
    #: failed, and its budget reservation released.
    job_lease_s: float = Field(default=30.0, ge=1, le=3600)

    @field_validator("api_tokens")
    @classmethod
    def _usable_tokens(cls, tokens: list[SecretStr]) -> list[SecretStr]:
        for index, token in enumerate(tokens):
            value = token.get_secret_value()
            where = f"token #{index + 1}"
            if not value.strip():
                raise ValueError(f"{where} is empty or blank; every token needs a secret")
            if value != value.strip():
                raise ValueError(f"{where} has leading or trailing whitespace, which no client would send")
            user, sep, secret = value.partition(":")
            if sep and not user:
                raise ValueError(f"{where} starts with ':'; write 'user:secret' or a plain service token")
            if sep and _TOKEN_USER.match(user) and not secret.strip():
                raise ValueError(f"{where} binds user {user!r} but has an empty secret; write '{user}:<secret>'")
        return tokens

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        # From the environment: a JSON list, or (friendlier) names separated by commas.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in text.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        cleaned = [h.strip().lower() for h in hosts]
        for host in cleaned:
            wildcard_ok = host == "*" or "*" not in host or (host.startswith("*.") and "*" not in host[1:])
            bracketed = host.startswith("[") and host.endswith("]")  # an IPv6 literal, as in a Host header
            if not host or any(c in host for c in "/ ") or (":" in host and not bracketed) or not wildcard_ok:
                raise ValueError(
                    f"{host!r} is not a host name (write e.g. draft.example.com or *.example.com, without a port)"
                )
        return cleaned

    @field_validator("runpod_base_url", "runpod_local_base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("runpod_endpoint_id")
    @classmethod
    def _blank_endpoint_is_none(cls, value: str | None) -> str | None:
        return (value.strip() or None) if value is not None else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        named = os.environ.get("TURBODRAFT_CONFIG")
        toml_file = Path(named) if named else DEFAULT_CONFIG_FILE
        if named and not toml_file.is_file():
            raise ConfigFileError(
                f"TURBODRAFT_CONFIG names {toml_file}, which is not a file; fix the path or unset TURBODRAFT_CONFIG"
            )
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    @cached_property
    def database_path(self) -> Path:
        return self.data_dir / "ledger.sqlite"

    @cached_property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def ledger_url(self) -> str:
        """The SQLAlchemy URL of the cost ledger: database_url, else the SQLite file in data_dir."""
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def runpod_cloud_configured(self) -> bool:
        """True when real RunPod can be called; otherwise finals go to the local RunPod-compatible server."""
        key = self.runpod_api_key.get_secret_value().strip() if self.runpod_api_key else ""
        return bool(key and self.runpod_endpoint_id)

    @property
    def runpod_url(self) -> str:
        """Base URL of the RunPod (or RunPod-compatible) endpoint in use, without the operation."""
        if self.runpod_cloud_configured:
            return f"{self.runpod_base_url}/{self.runpod_endpoint_id}"
        return f"{self.runpod_local_base_url}/{self.runpod_endpoint_id or 'local'}"
