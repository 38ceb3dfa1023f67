"""What the gateway exposes: only its own host names, only usable tokens, no fault injection on the embedded
RunPod server, and no file outside the model mirror."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tests.conftest import WEB_DIST, start_server, stop_server
from tests.test_api_v1 import api
from turbodraft.cli import app as cli
from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.models.manifest import load_manifest
from turbodraft.models.mirror import pull
from turbodraft.providers.runpod_local import LocalRunPod, LocalRunPodConfig, running_in_thread

runner = CliRunner()


# --- host names (DNS rebinding) ---------------------------------------------------------------------------


def test_a_request_for_another_host_name_is_refused(tmp_path: Path) -> None:
    with api(tmp_path) as client:
        rebound = client.get("/v1/costs", headers={"Host": "attacker.example"})
        page = client.get("/", headers={"Host": "attacker.example:8000"})
        own = client.get("/v1/costs")
    assert (rebound.status_code, page.status_code) == (400, 400)
    assert own.status_code == 200


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:9", "[::1]:8000"])
def test_loopback_names_are_always_answered(tmp_path: Path, host: str) -> None:
    with api(tmp_path) as client:
        assert client.get("/health", headers={"Host": host}).status_code == 200


def test_configured_host_names_are_answered(tmp_path: Path) -> None:
    with api(tmp_path, allowed_hosts=["draft.example.com", "*.corp.example"]) as client:
        assert client.get("/health", headers={"Host": "draft.example.com"}).status_code == 200
        assert client.get("/health", headers={"Host": "gw.corp.example:443"}).status_code == 200
        assert client.get("/health", headers={"Host": "example.com"}).status_code == 400


def test_allowed_hosts_read_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_ALLOWED_HOSTS", "draft.example.com, 10.0.0.5")
    assert Settings().allowed_hosts == ["draft.example.com", "10.0.0.5"]


def test_binding_a_public_address_needs_host_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURBODRAFT_API_TOKENS", '["svc-secret"]')
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "TURBODRAFT_ALLOWED_HOSTS" in result.output and "Traceback" not in result.output


# --- tokens ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [[""], ["   "], ["alice:"], ["alice:   "], [":secret"], ["ok", " padded "]])
def test_unusable_tokens_are_refused_at_start(tokens: list[str]) -> None:
    with pytest.raises(ValidationError, match="api_tokens"):
        Settings(api_tokens=tokens)  # type: ignore[arg-type]


@pytest.mark.parametrize("tokens", ['[""]', '["   "]', '["alice:"]'])
def test_serve_names_the_unusable_token_and_exits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tokens: str) -> None:
    monkeypatch.setenv("TURBODRAFT_API_TOKENS", tokens)
    monkeypatch.setenv("TURBODRAFT_ALLOWED_HOSTS", "draft.example.com")
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "TURBODRAFT_API_TOKENS" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


# --- the embedded RunPod server ----------------------------------------------------------------------------


@pytest.fixture
def default_gateway(tmp_path: Path) -> Iterator[tuple[httpx.Client, str]]:
    settings = Settings(data_dir=tmp_path / "data", web_dir=WEB_DIST, runpod_local_handler="fake-sdxl")
    app = create_app(settings)
    running, thread = start_server(app)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            yield client, app.state.runpod_local_origin
    finally:
        stop_server(running, thread)


def test_the_embedded_runpod_server_has_no_fault_injection(default_gateway: tuple[httpx.Client, str]) -> None:
    client, origin = default_gateway
    # What a web page could send without a CORS preflight: a text/plain POST.
    plain = httpx.post(
        f"{origin}/_local/faults", content=b'{"kind": "failed", "count": null}', headers={"content-type": "text/plain"}
    )
    as_json = httpx.post(f"{origin}/_local/faults", json={"kind": "failed", "count": None})
    job = client.post("/v1/jobs", json={"prompt": "x", "priority": "final"}).json()
    done = client.get(f"/v1/jobs/{job['id']}", params={"wait": 20000}).json()
    assert plain.status_code in (401, 404) and as_json.status_code in (401, 404)
    assert done["status"] == "completed"


def test_the_embedded_runpod_server_wants_its_key_everywhere(default_gateway: tuple[httpx.Client, str]) -> None:
    _, origin = default_gateway
    assert httpx.get(f"{origin}/_local/stats").status_code == 401
    assert httpx.get(f"{origin}/v2/local/health").status_code == 401


def test_fault_injection_is_there_only_when_asked_for_and_behind_the_key() -> None:
    key = "k-123"
    local = LocalRunPod(LocalRunPodConfig(api_key=key, fault_injection=True))
    with running_in_thread(local) as base_url:
        origin = base_url.removesuffix("/v2")
        auth = {"Authorization": f"Bearer {key}"}
        fault = {"kind": "http_500", "ops": ["health"]}
        without_key = httpx.post(f"{origin}/_local/faults", json=fault)
        as_text = httpx.post(
            f"{origin}/_local/faults", content=b'{"kind": "http_500"}', headers={**auth, "content-type": "text/plain"}
        )
        added = httpx.post(f"{origin}/_local/faults", json=fault, headers=auth)
        health = httpx.get(f"{base_url}/local/health", headers=auth)
    assert (without_key.status_code, as_text.status_code, added.status_code) == (401, 415, 200)
    assert health.status_code == 500
    without = LocalRunPod(LocalRunPodConfig(api_key=key))
    with running_in_thread(without) as base_url:
        origin = base_url.removesuffix("/v2")
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{origin}/_local/faults", json={"kind": "http_500"}, headers=auth).status_code == 404


def test_runpod_local_has_a_faults_flag() -> None:
    result = runner.invoke(cli, ["runpod-local", "--help"])
    assert "--faults" in result.output


# --- the model mirror --------------------------------------------------------------------------------------


def test_the_model_mirror_does_not_follow_a_symlink_out_of_the_data_dir(tmp_path: Path) -> None:
    source = tmp_path / "int8-build"
    files = {
        "text_encoder/model.onnx": b"te" * 100,
        "unet/model.onnx": b"unet" * 100,
        "vae_decoder/model.onnx": b"vae" * 100,
        "tokenizer.json": b'{"model": {}}',
    }
    for rel, content in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(content)
    settings = Settings(data_dir=tmp_path / "data", web_dir=WEB_DIST)
    pull(load_manifest().variant("sd-turbo-int8"), settings.models_dir, source_dir=source)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_bytes(b"not a model file")
    mirrored = settings.models_dir / "sd-turbo-int8" / "tokenizer.json"
    mirrored.unlink()
    mirrored.symlink_to(secret)
    sha = hashlib.sha256(files["tokenizer.json"]).hexdigest()
    running, thread = start_server(create_app(settings))
    try:
        leaked = httpx.get(f"{running.url}/models/sd-turbo-int8/{sha}/tokenizer.json")
        inside = httpx.get(
            f"{running.url}/models/sd-turbo-int8/{hashlib.sha256(files['unet/model.onnx']).hexdigest()}/unet/model.onnx"
        )
    finally:
        stop_server(running, thread)
    assert leaked.status_code == 404 and b"not a model file" not in leaked.content
    assert inside.status_code == 200
