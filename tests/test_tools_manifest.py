"""The canvas tools' models in the manifest: real sources with permissive licences, fixtures that match."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_manifest import MANIFEST_JSON
from turbodraft.models.manifest import REPO_ROOT, ManifestError, load_manifest, parse_manifest, sha256_of

#: Licences an MIT project can ship models under (no copyleft, no non-commercial terms).
PERMISSIVE = {"MIT", "BSD-3-Clause", "Apache-2.0"}
REAL = {
    "upscale": ["realesr-general-x4v3", "realesrgan-x4plus", "realesrgan-x2plus"],
    "matte": ["u2netp", "isnet-general-use"],
    "style": ["style-mosaic", "style-candy", "style-udnie", "style-rain-princess"],
}


def test_each_tool_has_real_models_and_a_tiny_fixture() -> None:
    manifest = load_manifest()
    for tool, ids in REAL.items():
        for model_id in ids:
            model = manifest.tool(model_id)
            assert model.tool == tool
            assert model.source.kind in ("huggingface", "derived")
        fixtures = [t for t in manifest.tools if t.tool == tool and t.source.kind == "repo_path"]
        assert fixtures, f"no fixture for {tool}"


def test_every_tool_model_has_a_permissive_licence_and_says_where_it_is_stated() -> None:
    for model in load_manifest().tools:
        assert model.license in PERMISSIVE, f"{model.id}: {model.license}"
        assert model.license_url.startswith("https://")


def test_fixture_tool_models_list_their_files_with_real_sizes_and_hashes() -> None:
    for model in load_manifest().tools:
        if model.source.kind != "repo_path":
            continue
        for f in model.files:
            path = REPO_ROOT / model.source.path / f.path
            assert path.stat().st_size == f.size
            assert sha256_of(path) == f.sha256


def test_tool_models_are_found_among_all_models_but_not_among_draft_variants() -> None:
    manifest = load_manifest()
    assert manifest.model("u2netp").id == "u2netp"
    assert "u2netp" not in [v.id for v in manifest.variants]
    with pytest.raises(LookupError, match="unknown model"):
        manifest.tool("sd-turbo-fp16")


def _with_tool(change: dict[str, Any]) -> str:
    data: dict[str, Any] = json.loads(MANIFEST_JSON.read_text())
    tool = dict(data["tools"][0])
    tool.update(change)
    data["tools"] = [tool]
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"upscale": {"scale": 4, "tile": 32, "overlap": 32}}, "overlap must be smaller"),
        ({"upscale": {"scale": 2, "tile": 33, "overlap": 4, "multiple_of": 2}}, "not a multiple of 2"),
        ({"graph": "other.onnx"}, "not among its files"),
        (
            {"matte": {"resolution": 320, "mean": [0, 0, 0], "std": [1, 1, 1], "divide_by_max": False}},
            "exactly its 'upscale' parameters",
        ),
        ({"limits": {"min_side": 64, "max_side": 32, "max_pixels": 1024}}, "admit no image"),
        ({"backends": ["webgpu-f16"]}, "backends"),
        ({"id": "sd-turbo-fp16"}, "repeats another model's id"),
    ],
)
def test_a_malformed_tool_entry_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(_with_tool(change))
