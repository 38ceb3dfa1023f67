"""The canvas tools' Python twin (turbodraft.tools) against PyTorch on the same weights (fixtures/tools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.tools_support import CASES, SENSITIVITY, input_pixels, reference, run_case, sessions
from turbodraft.pipeline.compare import psnr
from turbodraft.tools import ToolSession, upscale

THRESHOLD_DB = 45.0


@pytest.fixture(scope="module")
def tool_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ToolSession]:
    return sessions(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_twin_matches_the_pytorch_reference(tool_sessions: dict[str, ToolSession], case: dict[str, Any]) -> None:
    got = run_case(tool_sessions[case["model"]], case)
    want = reference(case)
    assert got.shape == want.shape == (case["height"], case["width"], 4)
    db = psnr(got, want)
    print(f"{case['id']}: {db:.1f} dB")
    assert db >= THRESHOLD_DB


@pytest.mark.parametrize("model", ["tiny-realesr-general-x4v3", "tiny-realesrgan-x4plus", "tiny-realesrgan-x2plus"])
def test_a_tiled_upscale_matches_the_untiled_one(tool_sessions: dict[str, ToolSession], model: str) -> None:
    session = tool_sessions[model]
    params = session.model.upscale
    assert params is not None
    pixels = input_pixels("large.png")
    tiled = upscale(session, pixels)
    whole = upscale(session, pixels, tile=max(pixels.shape[:2]) + params.multiple_of, overlap=0)
    db = psnr(tiled, whole)
    print(f"{model}: tiled vs untiled {db:.1f} dB")
    assert db >= THRESHOLD_DB


def test_the_large_case_really_is_tiled(tool_sessions: dict[str, ToolSession]) -> None:
    from turbodraft.tools.tiling import plan

    for model in ("tiny-realesr-general-x4v3", "tiny-realesrgan-x4plus", "tiny-realesrgan-x2plus"):
        p = tool_sessions[model].model.upscale
        assert p is not None
        h, w = input_pixels("large.png").shape[:2]
        assert len(plan(h, w, p.tile, p.overlap, p.scale, p.multiple_of)) >= 4


def test_without_overlap_the_compact_upscaler_shows_seams(tool_sessions: dict[str, ToolSession]) -> None:
    session = tool_sessions["tiny-realesr-general-x4v3"]
    pixels = input_pixels("large.png")
    seams = upscale(session, pixels, overlap=0)
    assert psnr(seams, upscale(session, pixels, tile=128)) < THRESHOLD_DB


@pytest.mark.parametrize("model", sorted(SENSITIVITY))
def test_every_deliberate_mistake_falls_below_the_browser_threshold(model: str) -> None:
    """Each tiny fixture is random but sensitive: a pipeline mistake costs far more than a test allows."""
    for mistake, db in SENSITIVITY[model].items():
        if "not a mistake" in mistake or "absorbs it" in mistake or "without overlap" in mistake:
            continue
        assert db < 40.0, f"{model}: {mistake} only moves the image to {db:.1f} dB"


def test_background_removal_keeps_colours_and_the_image_size(tool_sessions: dict[str, ToolSession]) -> None:
    from turbodraft.tools import remove_background

    pixels = input_pixels("subject.png")
    rgba = remove_background(tool_sessions["tiny-u2netp"], pixels)
    assert rgba.shape == (*pixels.shape[:2], 4)
    np.testing.assert_allclose(rgba[:, :, :3], pixels.astype(np.float32) / 255, atol=1e-6)
    alpha = rgba[:, :, 3]
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert ((alpha > 0.02) & (alpha < 0.98)).mean() > 0.05, "the matte is soft, not a hard cut-out"


def test_transparent_pixels_stay_transparent(tool_sessions: dict[str, ToolSession]) -> None:
    from turbodraft.tools import remove_background, stylize

    pixels = input_pixels("rgba.png")
    clear = pixels[:, :, 3] == 0
    assert clear.any()
    assert (remove_background(tool_sessions["tiny-u2netp"], pixels)[:, :, 3][clear] == 0).all()
    styled = stylize(tool_sessions["tiny-fast-neural-style"], pixels, strength=1.0)
    np.testing.assert_array_equal(styled[:, :, 3], pixels[:, :, 3] / np.float32(255))


def test_strength_zero_returns_the_original(tool_sessions: dict[str, ToolSession]) -> None:
    from turbodraft.tools import stylize

    pixels = input_pixels("photo.png")
    out = stylize(tool_sessions["tiny-fast-neural-style"], pixels, strength=0.0)
    np.testing.assert_allclose(out[:, :, :3], pixels / np.float32(255), atol=1e-6)


def test_the_tools_read_their_models_from_the_mirror_when_pulled(tmp_path: Path) -> None:
    from turbodraft.models.manifest import load_manifest
    from turbodraft.models.mirror import pull

    pull(load_manifest().tool("tiny-u2netp"), tmp_path)
    session = ToolSession.for_model("tiny-u2netp", tmp_path)
    assert session.model.id == "tiny-u2netp"
