"""The model manifest: the one data file shared by the Python twin and the browser engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from turbodraft.models.manifest import (
    REPO_ROOT,
    ManifestError,
    UnknownModel,
    load_manifest,
    local_model_dir,
    parse_manifest,
    sha256_of,
)

MANIFEST_JSON = Path(__file__).resolve().parents[1] / "src/turbodraft/models/manifest.json"
FIXTURE_IDS = ["tiny-sd-turbo", "tiny-sd-turbo-fp16", "tiny-sd-turbo-taesd"]


def manifest_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST_JSON.read_text())
    return data


def test_lists_the_six_variants() -> None:
    ids = [v.id for v in load_manifest().variants]
    assert ids == [
        "sd-turbo-fp16-taesd",
        "sd-turbo-fp16",
        "sd-turbo-int8",
        "tiny-sd-turbo",
        "tiny-sd-turbo-fp16",
        "tiny-sd-turbo-taesd",
    ]


def test_the_default_draft_variant_is_sd_turbos_web_graphs_with_taesd_built_from_public_exports() -> None:
    manifest = load_manifest()
    draft, full = manifest.variant("sd-turbo-fp16-taesd"), manifest.variant("sd-turbo-fp16")
    assert (draft.decoder, full.decoder) == ("taesd", "vae")
    assert draft.source.kind == "derived"
    builds = {f.path: f.build for f in draft.files}
    assert all(b is not None for b in builds.values())
    inputs = {p: (b.op, b.input.repo, b.input.path) for p, b in builds.items() if b is not None}
    assert inputs == {
        "text_encoder/model.onnx": ("copy", "schmuell/sd-turbo-ort-web", "text_encoder/model.onnx"),
        "unet/model.onnx": ("copy", "schmuell/sd-turbo-ort-web", "unet/model.onnx"),
        "vae_decoder/model.onnx": ("taesd-decoder", "deinferno/taesd-onnx", "vae_decoder/model.onnx"),
        "vae_encoder/model.onnx": ("taesd-encoder", "deinferno/taesd-onnx", "vae_encoder/model.onnx"),
        "tokenizer.json": ("copy", "Xenova/clip-vit-base-patch16", "tokenizer.json"),
    }
    assert (draft.backends, draft.fallback, draft.image) == (full.backends, full.fallback, full.image)


def test_the_default_draft_variant_can_refine_in_the_browser() -> None:
    draft = load_manifest().variant("sd-turbo-fp16-taesd")
    assert draft.img2img
    assert draft.file("vae_encoder/model.onnx").required


def test_the_int8_variant_is_built_from_public_files_with_onnxruntimes_quantizer() -> None:
    int8 = load_manifest().variant("sd-turbo-int8")
    assert int8.source.kind == "derived"
    ops = {f.path: f.build.op for f in int8.files if f.build is not None}
    assert ops["unet/model.onnx"] == ops["text_encoder/model.onnx"] == "int8"
    assert int8.file("unet/model.onnx").build.quantize == ["MatMul", "Gemm", "Conv"]  # type: ignore[union-attr]
    assert int8.img2img


def test_every_variant_names_its_licences() -> None:
    for variant in load_manifest().variants:
        assert variant.licenses, variant.id
        assert all(lic.name and lic.url.startswith("https://") and lic.covers for lic in variant.licenses)


def test_sd_turbo_variants_carry_stabilitys_non_commercial_licence_and_taesd_is_mit() -> None:
    draft = load_manifest().variant("sd-turbo-fp16-taesd")
    names = {lic.covers.split(" ")[0]: lic.name for lic in draft.licenses}
    assert "Non-Commercial" in names["SD-Turbo"]
    assert names["TAESD"] == "MIT"


def test_every_downloadable_variant_has_a_size_before_any_pull() -> None:
    for variant in load_manifest().variants:
        assert variant.size_estimate is not None and variant.size_estimate > 0, variant.id


def test_rejects_a_derived_variant_with_a_file_it_does_not_say_how_to_build() -> None:
    data = manifest_data()
    del data["variants"][0]["files"][0]["build"]
    with pytest.raises(ManifestError, match="need a `build`"):
        parse_manifest(json.dumps(data))


def test_rejects_quantize_settings_on_a_build_that_is_not_int8() -> None:
    data = manifest_data()
    data["variants"][0]["files"][0]["build"]["quantize"] = ["MatMul"]
    with pytest.raises(ManifestError, match="quantize"):
        parse_manifest(json.dumps(data))


def test_the_tiny_taesd_fixture_shares_the_tiny_text_encoder_and_unet() -> None:
    manifest = load_manifest()
    tiny, taesd = manifest.variant("tiny-sd-turbo"), manifest.variant("tiny-sd-turbo-taesd")
    for path in ("text_encoder/model.onnx", "unet/model.onnx", "tokenizer.json"):
        assert taesd.file(path).sha256 == tiny.file(path).sha256
    for graph in ("vae_decoder/model.onnx", "vae_encoder/model.onnx"):
        assert taesd.file(graph).sha256 != tiny.file(graph).sha256


def test_sd_turbo_constants_are_diffusers_config() -> None:
    family = load_manifest().families["sd-turbo"]
    s = family.scheduler
    assert (s.num_train_timesteps, s.beta_start, s.beta_end, s.beta_schedule) == (
        1000,
        0.00085,
        0.012,
        "scaled_linear",
    )
    assert (s.timestep_spacing, s.steps_offset, s.prediction_type) == ("trailing", 1, "epsilon")
    t = family.tokenizer
    assert (t.pad_token_id, t.bos_token_id, t.eos_token_id, t.max_length) == (0, 49406, 49407, 77)
    assert family.vae.scaling_factor == 0.18215


def test_fp16_web_variant_needs_shader_f16_and_names_the_public_repo() -> None:
    variant = load_manifest().variant("sd-turbo-fp16")
    assert variant.backends == ["webgpu-f16"]
    assert variant.source.kind == "huggingface"
    assert variant.source.repo == "schmuell/sd-turbo-ort-web"
    assert all(f.sha256 is None for f in variant.files), (
        "hashes of files we cannot download must stay unknown"
    )


def test_every_variant_allows_at_most_four_steps() -> None:
    assert {v.max_steps for v in load_manifest().variants} == {4}


@pytest.mark.parametrize("model_id", FIXTURE_IDS)
def test_fixture_files_match_their_recorded_size_and_sha256(model_id: str) -> None:
    variant = load_manifest().variant(model_id)
    root = local_model_dir(variant, Path("unused"))
    assert variant.files, "fixture variants must list their files"
    for entry in variant.files:
        path = root / entry.path
        assert path.is_file(), path
        assert path.stat().st_size == entry.size, entry.path
        assert sha256_of(path) == entry.sha256, entry.path


@pytest.mark.parametrize("model_id", FIXTURE_IDS)
def test_fixture_variants_list_every_file_in_their_directory(model_id: str) -> None:
    variant = load_manifest().variant(model_id)
    root = local_model_dir(variant, Path("unused"))
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == {f.path for f in variant.files}


def test_fixture_dirs_resolve_inside_the_repository_and_others_under_the_mirror(tmp_path: Path) -> None:
    manifest = load_manifest()
    assert (
        local_model_dir(manifest.variant("tiny-sd-turbo"), tmp_path) == REPO_ROOT / "fixtures/tiny-sd-turbo"
    )
    assert local_model_dir(manifest.variant("sd-turbo-fp16"), tmp_path) == tmp_path / "sd-turbo-fp16"


def test_unknown_model_id_names_the_known_ones() -> None:
    with pytest.raises(UnknownModel, match="tiny-sd-turbo"):
        load_manifest().variant("sd-xl")


def test_rejects_fp16_graphs_on_a_backend_without_shader_f16() -> None:
    data = manifest_data()
    data["variants"][0]["backends"] = ["webgpu-f16", "wasm"]
    with pytest.raises(ManifestError, match="float16 graphs may only run on webgpu-f16"):
        parse_manifest(json.dumps(data))


def test_every_fp16_variant_names_a_fallback_that_runs_without_shader_f16() -> None:
    manifest = load_manifest()
    for variant in manifest.variants:
        if variant.dtype == "float16":
            assert variant.fallback is not None, variant.id
            assert manifest.variant(variant.fallback).dtype != "float16"


def test_rejects_a_fallback_to_an_unknown_variant() -> None:
    data = manifest_data()
    data["variants"][0]["fallback"] = "no-such-variant"
    with pytest.raises(ManifestError, match="is not another variant"):
        parse_manifest(json.dumps(data))


def test_rejects_latent_sizes_that_are_not_the_image_sizes_over_eight() -> None:
    data = manifest_data()
    data["variants"][0]["latent"]["max"] = 96
    with pytest.raises(ManifestError, match="latent sizes"):
        parse_manifest(json.dumps(data))


def test_rejects_a_malformed_sha256() -> None:
    data = manifest_data()
    data["variants"][0]["files"][0]["sha256"] = "abc"
    with pytest.raises(ManifestError, match="sha256"):
        parse_manifest(json.dumps(data))


def test_rejects_a_variant_missing_a_graph() -> None:
    data = manifest_data()
    data["variants"][0]["files"] = data["variants"][0]["files"][1:]
    with pytest.raises(ManifestError, match=r"text_encoder/model\.onnx"):
        parse_manifest(json.dumps(data))


def test_rejects_more_than_four_steps() -> None:
    data = manifest_data()
    data["variants"][0]["max_steps"] = 8
    with pytest.raises(ManifestError):
        parse_manifest(json.dumps(data))


def test_a_branch_revision_is_not_a_pin() -> None:
    source = load_manifest().variant("sd-turbo-fp16").source
    assert source.kind == "huggingface"
    assert not source.is_pinned
