"""Tool models travel like draft variants: `turbodraft models pull/list`, the gateway's served manifest and
its file URLs, with the real download code against a local Hub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import FIXTURES, RunningServer
from tests.hub_server import HubServer
from tests.tools_support import CASES, input_pixels, reference
from turbodraft.cli import app
from turbodraft.models.manifest import load_manifest
from turbodraft.models.mirror import IntegrityError, pull
from turbodraft.pipeline.compare import psnr
from turbodraft.tools import ToolSession, upscale

TINY_X4PLUS = (FIXTURES / "tiny-realesrgan-x4plus" / "model.onnx").read_bytes()


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer.running() as server:
        yield server


def test_a_hub_tool_model_is_pulled_verified_and_runs(hub: HubServer, tmp_path: Path) -> None:
    """RealESRGAN x4plus's entry, served by a local Hub that holds the tiny RRDB graph under the real name."""
    real = load_manifest().tool("realesrgan-x4plus")
    tiny = load_manifest().tool("tiny-realesrgan-x4plus")
    commit = hub.add_commit("SceneWorks/real-esrgan-onnx", {real.graph: TINY_X4PLUS})
    stand_in = real.model_copy(
        update={
            "files": [real.files[0].model_copy(update={"sha256": None})],  # the real file's hash is not these bytes
            "upscale": tiny.upscale,
            "limits": tiny.limits,
        }
    )
    lock = pull(stand_in, tmp_path, endpoint=hub.url)
    assert lock.origin.kind == "huggingface" and lock.origin.commit == commit
    session = ToolSession(stand_in, tmp_path / real.id)
    case = next(c for c in CASES if c["id"] == "upscale-tiny-realesrgan-x4plus-photo")
    assert psnr(upscale(session, input_pixels(case["input"])), reference(case)) >= 45.0


def test_a_tool_file_whose_bytes_differ_from_the_manifest_hash_is_refused(hub: HubServer, tmp_path: Path) -> None:
    """The x4v3 entry carries its publisher's sha256: other bytes under that name never land in the mirror."""
    real = load_manifest().tool("realesr-general-x4v3")
    hub.add_commit("techycoder/realesrgan-general-x4v3", {real.graph: b"not the model" * 100})
    with pytest.raises(IntegrityError, match=real.files[0].sha256 or "sha256"):
        pull(real, tmp_path, endpoint=hub.url)
    assert not (tmp_path / real.id / real.graph).exists()


def test_models_list_shows_tool_models_and_pull_copies_a_fixture(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list", "--json", "--data-dir", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    states = {row["variant_id"]: row["state"] for row in json.loads(listed.output)}
    assert states["u2netp"] == "absent"
    assert states["tiny-u2netp"] == "fixture"
    pulled = runner.invoke(app, ["models", "pull", "tiny-fast-neural-style", "--data-dir", str(tmp_path)])
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "models" / "tiny-fast-neural-style" / "model.onnx").is_file()


def test_the_gateway_serves_tool_models_as_variants(gateway: RunningServer) -> None:
    body = httpx.get(f"{gateway.url}/models/manifest.json").json()
    served = {v["id"]: v for v in body["variants"]}
    tiny = served["tiny-isnet-general-use"]
    assert tiny["tool"] == "matte" and tiny["license"] == "MIT"
    [file] = tiny["files"]
    graph = httpx.get(httpx.URL(f"{gateway.url}/models/manifest.json").join(file["url"]))
    assert graph.status_code == 200
    assert graph.content == (FIXTURES / "tiny-isnet-general-use" / "model.onnx").read_bytes()
    assert served["isnet-general-use"]["mirror"]["state"] == "absent"
    assert "tools" not in body
