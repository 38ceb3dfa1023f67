"""`turbodraft models pull | list | verify | rm` through typer's CliRunner, on real files and a local Hub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from tests.hub_server import HubServer
from tests.test_mirror_derived import start_hub
from turbodraft.cli.models import register
from turbodraft.models.tamper import flip_byte

runner = CliRunner()
FP16_REPO = "schmuell/sd-turbo-ort-web"
TOKENIZER_REPO = "Xenova/clip-vit-base-patch16"
FILES = {
    "text_encoder/model.onnx": b"text-encoder" * 500,
    "unet/model.onnx": b"unet" * 5000,
    "vae_decoder/model.onnx": b"vae" * 700,
    "tokenizer.json": b'{"model": {}}',
}


def cli_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """The `turbodraft` root, reduced to the models sub-app."""

    register(app)
    return app


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(cli_app(), ["models", *args], env=env)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def int8_dir(tmp_path: Path) -> Path:
    """A locally built int8 variant, as `models pull sd-turbo-int8 --from` expects it."""
    root = tmp_path / "int8"
    for rel, content in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


@pytest.fixture
def mirrored(data_dir: Path, int8_dir: Path) -> Path:
    result = invoke("pull", "sd-turbo-int8", "--from", str(int8_dir), "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    return data_dir


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer.running() as server:
        server.add_commit(FP16_REPO, {p: c for p, c in FILES.items() if p != "tokenizer.json"})
        server.add_commit(TOKENIZER_REPO, {"tokenizer.json": FILES["tokenizer.json"]})
        yield server


def test_pull_from_the_hub_named_by_hf_endpoint(hub: HubServer, data_dir: Path) -> None:
    result = invoke("pull", "sd-turbo-fp16", "--data-dir", str(data_dir), env={"HF_ENDPOINT": hub.url})

    assert result.exit_code == 0, result.output
    commit = hub.repos[FP16_REPO].branches["main"]
    assert "sd-turbo-fp16: 4 files" in result.output and commit in result.output
    assert (data_dir / "models/sd-turbo-fp16/unet/model.onnx").read_bytes() == FILES["unet/model.onnx"]


def test_pull_reports_a_hash_mismatch_and_exits_1(hub: HubServer, data_dir: Path) -> None:
    hub.tamper(FP16_REPO, "unet/model.onnx")

    result = invoke("pull", "sd-turbo-fp16", "--endpoint", hub.url, "--data-dir", str(data_dir))

    assert result.exit_code == 1
    assert "unet/model.onnx: sha256 mismatch" in result.output
    assert not (data_dir / "models/sd-turbo-fp16/unet/model.onnx").exists()


def test_pull_of_an_unknown_variant_exits_2_naming_the_known_ones(data_dir: Path) -> None:
    result = invoke("pull", "sd-turbo-fp64", "--data-dir", str(data_dir))

    assert result.exit_code == 2
    assert "unknown model 'sd-turbo-fp64'" in result.output and "sd-turbo-fp16" in result.output


def test_pull_of_the_default_variant_builds_it_from_the_hub_with_a_progress_bar_per_file(data_dir: Path) -> None:
    hub = start_hub("tiny-sd-turbo")
    try:
        result = invoke(
            "pull", "sd-turbo-fp16-taesd", "--data-dir", str(data_dir), env={"HF_ENDPOINT": hub.url, "COLUMNS": "200"}
        )
    finally:
        hub.stop()

    assert result.exit_code == 0, result.output
    assert "sd-turbo-fp16-taesd: 5 files" in result.output and "verified, built from" in result.output
    assert "deinferno/taesd-onnx@" in result.output
    for shown in ("schmuell/sd-turbo-ort-web/unet/model.onnx", "deinferno/taesd-onnx/vae_encoder/model.onnx"):
        assert shown in result.output  # the download bars name each input


def test_dry_run_prints_the_plan_and_fetches_nothing(data_dir: Path) -> None:
    result = invoke("pull", "sd-turbo-int8", "--dry-run", "--data-dir", str(data_dir))

    assert result.exit_code == 0, result.output
    assert "dynamic int8" in result.output and "nothing was fetched" in result.output
    assert not (data_dir / "models").exists()


def test_list_shows_each_variant_and_its_state(mirrored: Path) -> None:
    result = invoke("list", "--json", "--data-dir", str(mirrored))

    assert result.exit_code == 0, result.output
    rows = {row["variant_id"]: row for row in json.loads(result.output)}
    assert rows["sd-turbo-int8"]["state"] == "mirrored"
    assert rows["sd-turbo-int8"]["size"] == sum(len(c) for c in FILES.values())
    assert rows["sd-turbo-fp16"]["state"] == "absent"


def test_list_as_a_table_names_every_variant(mirrored: Path) -> None:
    result = invoke("list", "--data-dir", str(mirrored))

    assert result.exit_code == 0
    for variant_id in ("sd-turbo-fp16", "sd-turbo-int8", "tiny-sd-turbo", "tiny-sd-turbo-fp16"):
        assert variant_id in result.output


def test_verify_passes_an_intact_mirror(mirrored: Path) -> None:
    result = invoke("verify", "sd-turbo-int8", "--data-dir", str(mirrored))

    assert result.exit_code == 0, result.output
    assert "sd-turbo-int8: 4 files ok" in result.output


def test_verify_detects_a_flipped_byte_and_exits_1(mirrored: Path) -> None:
    flip_byte(mirrored / "models", "sd-turbo-int8", "unet/model.onnx")

    result = invoke("verify", "--data-dir", str(mirrored))

    assert result.exit_code == 1
    assert "unet/model.onnx" in result.output and "sha256 mismatch" in result.output


def test_verify_of_an_unmirrored_variant_exits_1(data_dir: Path) -> None:
    result = invoke("verify", "sd-turbo-fp16", "--data-dir", str(data_dir))

    assert result.exit_code == 1
    assert "turbodraft models pull sd-turbo-fp16" in result.output


def test_verify_with_nothing_mirrored_succeeds_quietly(data_dir: Path) -> None:
    result = invoke("verify", "--data-dir", str(data_dir))

    assert result.exit_code == 0
    assert "nothing is mirrored" in result.output


def test_rm_removes_a_mirror(mirrored: Path) -> None:
    result = invoke("rm", "sd-turbo-int8", "--data-dir", str(mirrored))

    assert result.exit_code == 0
    assert not (mirrored / "models/sd-turbo-int8").exists()
    listed = json.loads(invoke("list", "--json", "--data-dir", str(mirrored)).output)
    assert {r["variant_id"]: r["state"] for r in listed}["sd-turbo-int8"] == "absent"


def test_rm_of_something_not_mirrored_exits_1(data_dir: Path) -> None:
    result = invoke("rm", "sd-turbo-fp16", "--data-dir", str(data_dir))

    assert result.exit_code == 1
    assert "not mirrored" in result.output
