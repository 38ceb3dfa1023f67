"""Bad input to the tools gets a clear error before a model runs; gray and transparent images are handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from turbodraft.tools import (
    ImageTooLarge,
    InvalidImage,
    InvalidOption,
    ModelNotDownloaded,
    ToolSession,
    remove_background,
    stylize,
    upscale,
)
from turbodraft.tools.images import fit_within, split, to_uint8


@pytest.fixture(scope="module")
def u2netp(tmp_path_factory: pytest.TempPathFactory) -> ToolSession:
    return ToolSession.for_model("tiny-u2netp", tmp_path_factory.mktemp("m"))


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> ToolSession:
    return ToolSession.for_model("tiny-fast-neural-style", tmp_path_factory.mktemp("m"))


def test_an_image_over_the_limit_is_refused_with_the_limit_named(u2netp: ToolSession) -> None:
    big = np.zeros((10, 600, 3), np.uint8)
    with pytest.raises(ImageTooLarge, match=r"600x10 image is over tiny-u2netp's limit of 512 px"):
        remove_background(u2netp, big)


def test_an_image_under_the_minimum_is_refused(style: ToolSession) -> None:
    with pytest.raises(InvalidImage, match="at least 16 px"):
        stylize(style, np.zeros((8, 40, 3), np.uint8))


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "8-bit"),
        (np.zeros((4, 4, 5), np.uint8), "1-4 channels"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.zeros((2, 2, 2, 3), np.uint8), "1-4 channels"),
    ],
)
def test_malformed_pixels_are_an_invalid_image(pixels: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        split(pixels)


def test_gray_images_run_as_equal_rgb_channels() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    image = split(gray)
    assert image.alpha is None
    assert (image.rgb[:, :, 0] == image.rgb[:, :, 2]).all()


def test_opaque_alpha_is_dropped_and_real_alpha_kept() -> None:
    rgba = np.full((2, 2, 4), 255, np.uint8)
    assert split(rgba).alpha is None
    rgba[0, 0, 3] = 10
    alpha = split(rgba).alpha
    assert alpha is not None and alpha[0, 0] == pytest.approx(10 / 255)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), True, "1"])
def test_strength_outside_0_to_1_is_refused(style: ToolSession, strength: object) -> None:
    with pytest.raises(InvalidOption, match="strength"):
        stylize(style, np.zeros((16, 16, 3), np.uint8), strength=strength)  # type: ignore[arg-type]


def test_a_tool_model_of_another_kind_is_refused(u2netp: ToolSession) -> None:
    with pytest.raises(InvalidOption, match="not an upscaler"):
        upscale(u2netp, np.zeros((4, 4, 3), np.uint8))


def test_a_model_that_is_not_downloaded_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotDownloaded, match=r"turbodraft models pull u2netp"):
        ToolSession.for_model("u2netp", tmp_path)


def test_fit_within_keeps_the_aspect_ratio_and_rounds_half_up() -> None:
    assert fit_within(1000, 500, 512) == (512, 256)
    assert fit_within(300, 200, 512) == (300, 200)
    assert fit_within(3, 1000, 10) == (1, 10)
    assert fit_within(5, 2, 4) == (4, 2)  # 1.6 -> 2


def test_to_uint8_rounds_half_up_and_clips() -> None:
    assert to_uint8(np.array([-1.0, 0.5 / 255, 1.5 / 255, 2.0], np.float32)).tolist() == [0, 1, 2, 255]
