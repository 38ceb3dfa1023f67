"""`models pull` of the derived variants from a local Hugging-Face-compatible server (tests/hub_server.py).

The Hub's repositories are stood in for by tiny files with the real file interface: the tiny SD-Turbo graphs
for schmuell/sd-turbo-ort-web, the tiny AutoencoderTiny in the public TAESD export's layout (AutoencoderTiny's
own latent scale, optimum's names: fixtures/hub/taesd-onnx) for deinferno/taesd-onnx, the fixture tokenizer for
Xenova/clip-vit-base-patch16. The packaged manifest's variants are pulled as they are, so what is proven is the
real recipe: files the twin loads and that match diffusers' AutoencoderTiny oracle (fixtures/oracle-taesd).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from tests.hub_server import HubServer
from turbodraft.models.derive import BuildError
from turbodraft.models.lockfile import builds_path, lock_path, read_builds, read_lock
from turbodraft.models.manifest import REPO_ROOT, load_manifest
from turbodraft.models.mirror import IntegrityError, SourceUnavailable, pull, remove
from turbodraft.pipeline import GenerateRequest, Pipeline
from turbodraft.pipeline.compare import psnr
from turbodraft.pipeline.images import load_init_image

FIXTURES = REPO_ROOT / "fixtures"
SD_REPO = "schmuell/sd-turbo-ort-web"
TAESD_REPO = "deinferno/taesd-onnx"
TOKENIZER_REPO = "Xenova/clip-vit-base-patch16"
DEFAULT = "sd-turbo-fp16-taesd"
INT8 = "sd-turbo-int8"
ORACLE = FIXTURES / "oracle-taesd"
CASES: list[dict[str, Any]] = json.loads((ORACLE / "cases.json").read_text())["cases"]
THRESHOLD_DB = 45.0


def sd_graphs(fixture: str) -> dict[str, bytes]:
    root = FIXTURES / fixture
    names = ("text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx")
    return {name: (root / name).read_bytes() for name in names}


def taesd_export() -> dict[str, bytes]:
    root = FIXTURES / "hub/taesd-onnx"
    return {name: (root / name).read_bytes() for name in ("vae_decoder/model.onnx", "vae_encoder/model.onnx")}


def start_hub(sd_fixture: str) -> HubServer:
    hub = HubServer()
    hub.start()
    hub.add_commit(SD_REPO, sd_graphs(sd_fixture))
    hub.add_commit(TAESD_REPO, taesd_export())
    hub.add_commit(TOKENIZER_REPO, {"tokenizer.json": (FIXTURES / "tiny-sd-turbo/tokenizer.json").read_bytes()})
    return hub


@pytest.fixture
def hub() -> Iterator[HubServer]:
    """schmuell's stand-in holds the fp32 tiny graphs: the TAESD oracle's text encoder and UNet."""
    server = start_hub("tiny-sd-turbo")
    yield server
    server.stop()


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def request_for(case: dict[str, Any]) -> GenerateRequest:
    init = None
    if case["mode"] == "img2img":
        init = load_init_image(ORACLE / case["init_image"], case["width"], case["height"])
    return GenerateRequest(
        prompt=case["prompt"],
        seed=case["seed"],
        steps=case["steps"],
        width=case["width"],
        height=case["height"],
        init_image=init,
        strength=case["strength"],
    )


# --- the default variant ----------------------------------------------------------------------------------------


def test_the_default_variant_pulled_from_the_hub_matches_the_autoencoder_tiny_oracle(
    hub: HubServer, models_dir: Path
) -> None:
    pull(load_manifest().variant(DEFAULT), models_dir, endpoint=hub.url)

    twin = Pipeline.from_dir(models_dir / DEFAULT)
    assert twin.limits.img2img
    for case in CASES:
        image = twin.generate(request_for(case)).image
        db = psnr(image, np.load(ORACLE / case["image"])[0])
        assert db >= THRESHOLD_DB, f"{case['id']}: {db:.1f} dB"


def test_the_taesd_graphs_get_the_engines_interface(hub: HubServer, models_dir: Path) -> None:
    pull(load_manifest().variant(DEFAULT), models_dir, endpoint=hub.url)

    def io(path: str) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, list[Any]]]]:
        graph = onnx.load(str(models_dir / DEFAULT / path)).graph

        def dims(value: Any) -> list[Any]:
            return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

        return [(v.name, dims(v)) for v in graph.input], [(v.name, dims(v)) for v in graph.output]

    assert io("vae_decoder/model.onnx") == (
        [("latent_sample", ["batch", 4, "height", "width"])],
        [("sample", ["batch", 3, "image_height", "image_width"])],
    )
    assert io("vae_encoder/model.onnx") == (
        [("sample", ["batch", 3, "image_height", "image_width"])],
        [("latent_sample", ["batch", 4, "height", "width"])],
    )


def test_copied_files_are_the_hubs_bytes_and_built_files_are_not(hub: HubServer, models_dir: Path) -> None:
    pull(load_manifest().variant(DEFAULT), models_dir, endpoint=hub.url)

    root = models_dir / DEFAULT
    for path, content in sd_graphs("tiny-sd-turbo").items():
        if path != "vae_decoder/model.onnx":
            assert (root / path).read_bytes() == content
    for path, content in taesd_export().items():
        assert (root / path).read_bytes() != content
    assert not (models_dir / ".inputs").exists()  # the downloaded inputs are gone once built


def test_the_lock_names_each_files_input_commit_and_build(hub: HubServer, models_dir: Path) -> None:
    lock = pull(load_manifest().variant(DEFAULT), models_dir, endpoint=hub.url)

    assert lock.origin.kind == "derived"
    commits = {i.repo: i.commit for i in lock.origin.inputs}
    assert set(commits) == {SD_REPO, TAESD_REPO, TOKENIZER_REPO}
    decoder = lock.file("vae_decoder/model.onnx")
    assert decoder is not None and decoder.built_from is not None
    made = decoder.built_from
    assert (made.op, made.repo, made.path, made.commit) == (
        "taesd-decoder",
        TAESD_REPO,
        "vae_decoder/model.onnx",
        commits[TAESD_REPO],
    )
    assert made.sha256 == hub.file(TAESD_REPO, "vae_decoder/model.onnx").sha256
    assert "onnxruntime" in made.tool
    unet = lock.file("unet/model.onnx")
    assert unet is not None and unet.built_from is not None and unet.built_from.op == "copy"
    assert unet.chunks is not None


def test_the_first_build_records_each_built_files_hash(hub: HubServer, models_dir: Path) -> None:
    lock = pull(load_manifest().variant(DEFAULT), models_dir, endpoint=hub.url)

    records = read_builds(models_dir, DEFAULT)
    built = {r.path: r.sha256 for r in records.builds}
    assert set(built) == {"vae_decoder/model.onnx", "vae_encoder/model.onnx"}
    for path, sha in built.items():
        locked = lock.file(path)
        assert locked is not None and locked.sha256 == sha


def test_a_rebuild_that_differs_from_the_recorded_hash_fails_and_keeps_nothing(
    hub: HubServer, models_dir: Path
) -> None:
    variant = load_manifest().variant(DEFAULT)
    pull(variant, models_dir, endpoint=hub.url)
    path = builds_path(models_dir, DEFAULT)
    records = json.loads(path.read_text())
    decoder = next(r for r in records["builds"] if r["path"] == "vae_decoder/model.onnx")
    decoder["sha256"] = "0" * 64  # as if the first build had made other bytes
    path.write_text(json.dumps(records))
    remove(models_dir, DEFAULT)

    with pytest.raises(IntegrityError, match="rebuild"):
        pull(variant, models_dir, endpoint=hub.url)
    assert not lock_path(models_dir, DEFAULT).exists()
    assert not (models_dir / DEFAULT / "vae_decoder/model.onnx").exists()


def test_a_rebuild_with_the_same_input_and_tools_is_checked_and_accepted(hub: HubServer, models_dir: Path) -> None:
    variant = load_manifest().variant(DEFAULT)
    first = pull(variant, models_dir, endpoint=hub.url)
    remove(models_dir, DEFAULT)

    second = pull(variant, models_dir, endpoint=hub.url)
    assert [f.sha256 for f in second.files] == [f.sha256 for f in first.files]
    assert len(read_builds(models_dir, DEFAULT).builds) == 2  # checked against, not recorded again


def test_pulling_again_only_asks_the_hub_what_changed(hub: HubServer, models_dir: Path) -> None:
    variant = load_manifest().variant(DEFAULT)
    pull(variant, models_dir, endpoint=hub.url)
    hub.requests.clear()

    pull(variant, models_dir, endpoint=hub.url)
    assert [r.method for r in hub.requests if r.method == "GET"] == []


def test_a_pull_that_fails_on_one_input_does_not_fetch_the_others_again(hub: HubServer, models_dir: Path) -> None:
    variant = load_manifest().variant(DEFAULT)
    hub.fail_gets(TOKENIZER_REPO, "tokenizer.json", times=100)  # the last file: the graphs came first

    with pytest.raises(SourceUnavailable, match=r"tokenizer\.json"):
        pull(variant, models_dir, endpoint=hub.url)
    assert read_lock(models_dir, DEFAULT) is None
    hub.fail_gets(TOKENIZER_REPO, "tokenizer.json", times=0)
    hub.requests.clear()

    pull(variant, models_dir, endpoint=hub.url)
    assert {(r.repo, r.path) for r in hub.requests if r.method == "GET"} == {(TOKENIZER_REPO, "tokenizer.json")}
    assert not (models_dir / ".inputs").exists()


def test_an_input_that_fails_the_hubs_sha256_is_refused(hub: HubServer, models_dir: Path) -> None:
    hub.tamper(TAESD_REPO, "vae_encoder/model.onnx")

    with pytest.raises(IntegrityError, match=r"vae_encoder/model\.onnx"):
        pull(load_manifest().variant(DEFAULT), models_dir, endpoint=hub.url)
    assert read_lock(models_dir, DEFAULT) is None
    assert not (models_dir / DEFAULT / "vae_encoder/model.onnx").exists()


def test_an_input_that_is_not_a_taesd_graph_fails_the_build_with_a_message(hub: HubServer, models_dir: Path) -> None:
    # The UNet in the decoder's place: three inputs, not one.
    unet = sd_graphs("tiny-sd-turbo")["unet/model.onnx"]
    hub.add_commit(TAESD_REPO, {**taesd_export(), "vae_decoder/model.onnx": unet})

    with pytest.raises(BuildError, match="one input and one output"):
        pull(load_manifest().variant(DEFAULT), models_dir, endpoint=hub.url)
    assert read_lock(models_dir, DEFAULT) is None


# --- the int8 variant -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def int8_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sd-turbo-int8 built from schmuell's stand-in holding the tiny fp16 graphs (the web exports' layout)."""
    models = tmp_path_factory.mktemp("int8") / "models"
    hub = start_hub("tiny-sd-turbo-fp16")
    try:
        pull(load_manifest().variant(INT8), models, endpoint=hub.url)
    finally:
        hub.stop()
    return models / INT8


def op_types(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def float16_tensors(path: Path) -> int:
    return sum(t.data_type == onnx.TensorProto.FLOAT16 for t in onnx.load(str(path)).graph.initializer)


def test_int8_quantizes_the_unet_and_text_encoder_from_the_fp16_graphs(int8_mirror: Path) -> None:
    assert {"MatMulInteger", "ConvInteger"} <= op_types(int8_mirror / "unet/model.onnx")
    assert "MatMulInteger" in op_types(int8_mirror / "text_encoder/model.onnx")
    for graph in ("text_encoder", "unet", "vae_decoder"):
        assert float16_tensors(int8_mirror / f"{graph}/model.onnx") == 0


def test_int8_images_stay_close_to_the_diffusers_oracle(int8_mirror: Path) -> None:
    oracle = FIXTURES / "oracle"
    cases = [c for c in json.loads((oracle / "cases.json").read_text())["cases"] if c["mode"] == "txt2img"][:4]
    twin = Pipeline.from_dir(int8_mirror)
    for case in cases:
        request = GenerateRequest(
            prompt=case["prompt"], seed=case["seed"], steps=case["steps"], width=64, height=64
        )
        db = psnr(twin.generate(request).image, np.load(oracle / case["image"])[0])
        assert db >= 35.0, f"{case['id']}: {db:.1f} dB"


def test_int8_refines_with_the_taesd_encoder_close_to_fp32(int8_mirror: Path, tmp_path: Path) -> None:
    # The same composition in fp32: the tiny fp32 graphs and the tiny TAESD encoder.
    reference = tmp_path / "fp32"
    for name in ("text_encoder/model.onnx", "unet/model.onnx", "vae_decoder/model.onnx", "tokenizer.json"):
        (reference / name).parent.mkdir(parents=True, exist_ok=True)
        (reference / name).write_bytes((FIXTURES / "tiny-sd-turbo" / name).read_bytes())
    encoder = reference / "vae_encoder/model.onnx"
    encoder.parent.mkdir(parents=True, exist_ok=True)
    encoder.write_bytes((FIXTURES / "tiny-sd-turbo-taesd/vae_encoder/model.onnx").read_bytes())
    case = next(c for c in CASES if c["mode"] == "img2img")

    int8 = Pipeline.from_dir(int8_mirror).generate(request_for(case)).image
    fp32 = Pipeline.from_dir(reference).generate(request_for(case)).image
    assert psnr(int8, fp32) >= 35.0
