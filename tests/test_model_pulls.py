"""`/v1/models/...`: the gateway fetches a model into its mirror for the web app, on a real server, from a local
Hugging-Face-compatible server (tests/hub_server.py) standing in for the Hub."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import WEB_DIST, RunningServer, start_server, stop_server
from tests.hub_server import HubServer
from tests.test_mirror_derived import SD_REPO, TAESD_REPO, start_hub
from turbodraft.config import Settings
from turbodraft.gateway import create_app
from turbodraft.gateway.model_pulls import ModelPulls, pulls_allowed
from turbodraft.models.lockfile import read_lock
from turbodraft.models.manifest import HuggingFaceSource, ModelFile

DEFAULT = "sd-turbo-fp16-taesd"
BIG = "test-org/big"
#: Several of the mirror's 1 MiB read chunks, so a cancelled transfer keeps some of them.
BIG_SIZE = 6 * 1024 * 1024


@pytest.fixture
def hub() -> Iterator[HubServer]:
    server = start_hub("tiny-sd-turbo")
    big = {p: random.Random(i).randbytes(BIG_SIZE if p == "unet/model.onnx" else 50_000) for i, p in enumerate(
        ("text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx", "tokenizer.json")
    )}
    server.add_commit(BIG, big, lfs=big)
    yield server
    server.stop()


def with_big_variant(pulls: ModelPulls) -> None:
    """A Hub variant of random bytes (a 6 MiB UNet), for transfers long enough to watch and cancel."""
    manifest = pulls.manifest
    big = manifest.variant("sd-turbo-fp16").model_copy(
        update={
            "id": "big-test",
            "source": HuggingFaceSource(kind="huggingface", repo=BIG, revision="main"),
            "files": [
                ModelFile(path=f.path, size_estimate=f.size_estimate) for f in manifest.variant("sd-turbo-fp16").files
            ],
        }
    )
    pulls.manifest = manifest.model_copy(update={"variants": [*manifest.variants, big]})


Gateway = Callable[..., tuple[httpx.Client, RunningServer]]


@pytest.fixture
def gateway(tmp_path: Path, hub: HubServer) -> Iterator[Gateway]:
    started: list[tuple[httpx.Client, RunningServer, Any]] = []

    def start(**overrides: Any) -> tuple[httpx.Client, RunningServer]:
        settings = Settings(data_dir=tmp_path / "data", web_dir=WEB_DIST, hf_endpoint=hub.url, **overrides)
        app = create_app(settings)
        with_big_variant(app.state.model_pulls)
        running, thread = start_server(app)
        client = httpx.Client(base_url=running.url, timeout=30)
        started.append((client, running, thread))
        return client, running

    yield start
    for client, running, thread in started:
        client.close()
        stop_server(running, thread)


def wait_for(
    client: httpx.Client, variant: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = client.get(f"/v1/models/{variant}/pull").json()
        if done(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.05)


def finished(client: httpx.Client, variant: str) -> dict[str, Any]:
    return wait_for(client, variant, lambda v: v["state"] != "running")


# --- who may pull ---------------------------------------------------------------------------------------------


def test_a_loopback_gateway_lets_its_pages_pull_by_default(gateway: Gateway) -> None:
    client, _ = gateway()
    assert client.get("/v1/models/pulls").json() == {"allowed": True, "reason": None, "pulls": []}


def test_off_loopback_pulls_are_off_by_default_and_refused_with_the_command(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway(host="0.0.0.0", api_tokens=[SecretStr("admin-secret")])
    client.headers["Authorization"] = "Bearer admin-secret"

    listing = client.get("/v1/models/pulls").json()
    assert listing["allowed"] is False and "0.0.0.0" in listing["reason"]
    refused = client.post(f"/v1/models/{DEFAULT}/pull")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model-pulls-disabled"
    assert f"turbodraft models pull {DEFAULT}" in refused.json()["error"]["message"]
    assert hub.requests == []


def test_the_admin_setting_turns_pulls_off_even_on_loopback(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway(allow_model_pulls=False)

    assert client.post(f"/v1/models/{DEFAULT}/pull").status_code == 403
    assert client.post(f"/v1/models/{DEFAULT}/pull/cancel").status_code == 403
    assert hub.requests == []


def test_the_admin_setting_turns_pulls_on_off_loopback() -> None:
    assert pulls_allowed(Settings(host="10.1.2.3", allow_model_pulls=True))
    assert not pulls_allowed(Settings(host="10.1.2.3"))
    assert pulls_allowed(Settings(host="127.0.0.1"))


def test_pulls_need_the_api_token_like_the_rest_of_v1(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway(api_tokens=[SecretStr("secret")])

    assert client.get("/v1/models/pulls").status_code == 401
    assert client.post(f"/v1/models/{DEFAULT}/pull").status_code == 401
    assert hub.requests == []


def test_a_page_of_another_site_cannot_start_a_pull(gateway: Gateway, hub: HubServer) -> None:
    client, running = gateway()

    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = client.post(f"/v1/models/{DEFAULT}/pull", headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross-site"
    assert hub.requests == []
    own = client.post(f"/v1/models/{DEFAULT}/pull", headers={"Origin": running.url, "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 202


@pytest.mark.parametrize("variant", ["no-such-model", "tiny-sd-turbo-fp32"])
def test_an_unknown_variant_is_a_404_naming_the_known_ones(gateway: Gateway, variant: str) -> None:
    client, _ = gateway()
    answer = client.post(f"/v1/models/{variant}/pull")
    assert answer.status_code == 404
    assert DEFAULT in answer.json()["error"]["details"]["known"]


@pytest.mark.parametrize("variant", ["-dash", "UPPER", "a" * 80, "x%2Fy", "a b"])
def test_a_malformed_variant_id_is_refused_before_anything_runs(gateway: Gateway, variant: str) -> None:
    client, _ = gateway()
    assert client.post(f"/v1/models/{variant}/pull").status_code in (404, 405, 422)
    assert client.get("/v1/models/pulls").json()["pulls"] == []


# --- pulling ------------------------------------------------------------------------------------------------------


def test_a_pull_mirrors_the_default_variant_and_the_served_manifest_then_offers_it(
    gateway: Gateway, tmp_path: Path
) -> None:
    client, _ = gateway()
    before = next(v for v in client.get("/models/manifest.json").json()["variants"] if v["id"] == DEFAULT)
    assert before["mirror"]["state"] == "absent"

    started = client.post(f"/v1/models/{DEFAULT}/pull")
    assert started.status_code == 202 and started.json()["state"] == "running"
    view = finished(client, DEFAULT)

    assert view["state"] == "done", view
    assert view["bytesDone"] == view["bytesTotal"] > 0
    assert view["error"] is None and view["finishedAt"] is not None
    assert read_lock(tmp_path / "data/models", DEFAULT) is not None
    after = next(v for v in client.get("/models/manifest.json").json()["variants"] if v["id"] == DEFAULT)
    assert after["mirror"]["state"] == "mirrored"
    assert all(f["url"] for f in after["files"])


def test_progress_counts_bytes_as_they_arrive_against_the_total(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway()
    hub.rate_limit(4 * 1024 * 1024)  # the 6 MiB UNet takes about 1.5 s

    client.post("/v1/models/big-test/pull")
    seen = [wait_for(client, "big-test", lambda v: 0 < v["bytesDone"] < (v["bytesTotal"] or 0) // 2)]
    seen.append(finished(client, "big-test"))

    total = BIG_SIZE + 3 * 50_000
    assert seen[0]["state"] == "running" and seen[0]["phase"] == "downloading"
    assert seen[0]["bytesTotal"] == total  # exact once the transfers began
    assert seen[-1]["state"] == "done" and seen[-1]["bytesDone"] == total


def test_one_pull_per_variant_runs_at_a_time(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway()
    hub.rate_limit(4 * 1024 * 1024)

    first = client.post("/v1/models/big-test/pull")
    second = client.post("/v1/models/big-test/pull")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["startedAt"] == first.json()["startedAt"]
    assert finished(client, "big-test")["state"] == "done"
    assert len(hub.gets_of(BIG, "unet/model.onnx")) == 1


def test_cancel_keeps_the_bytes_fetched_and_the_next_pull_resumes_them(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway()
    hub.rate_limit(2 * 1024 * 1024)
    client.post("/v1/models/big-test/pull")
    wait_for(client, "big-test", lambda v: v["file"] == "unet/model.onnx" and v["bytesDone"] > 2 * 1024 * 1024)

    client.post("/v1/models/big-test/pull/cancel")
    cancelled = finished(client, "big-test")
    assert cancelled["state"] == "cancelled" and "resumes" in cancelled["error"]
    hub.rate_limit(None)

    assert client.post("/v1/models/big-test/pull").status_code == 202
    assert finished(client, "big-test")["state"] == "done"
    resumed = hub.gets_of(BIG, "unet/model.onnx")[-1]
    assert resumed.range is not None and int(resumed.range.removeprefix("bytes=").rstrip("-")) >= 2 * 1024 * 1024


def test_a_failed_pull_says_why(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway()
    hub.tamper(TAESD_REPO, "vae_decoder/model.onnx")

    client.post(f"/v1/models/{DEFAULT}/pull")
    view = finished(client, DEFAULT)
    assert view["state"] == "failed"
    assert "sha256" in view["error"] and "vae_decoder/model.onnx" in view["error"]
    assert len(hub.gets_of(SD_REPO, "unet/model.onnx")) == 1


RECORDED = Path(__file__).resolve().parents[1] / "web/src/engine/store/recorded"


def test_the_gateway_answers_with_the_fields_the_web_app_was_written_against(gateway: Gateway, hub: HubServer) -> None:
    client, _ = gateway()
    hub.rate_limit(2 * 1024 * 1024)
    client.post("/v1/models/big-test/pull")
    view = client.get("/v1/models/big-test/pull").json()
    info = client.get("/v1/models/pulls").json()

    recorded_view = json.loads((RECORDED / "pull-running.json").read_text())
    recorded_info = json.loads((RECORDED / "pulls-info.json").read_text())
    assert sorted(view) == sorted(recorded_view)
    assert sorted(info) == sorted(recorded_info)
    assert {k: type(v) for k, v in view.items() if v is not None} == {
        k: type(v) for k, v in recorded_view.items() if v is not None and view.get(k) is not None
    }
    hub.rate_limit(None)
    finished(client, "big-test")
