"""Pixels in and out of the tools: 8-bit gray, gray+alpha, RGB or RGBA in; float RGB(A) in [0, 1] out.

Grayscale images are run as RGB with equal channels (every tool model takes three channels). Transparency is
kept, never guessed: the upscaler resizes alpha on its own, background removal multiplies its matte into the
existing alpha, style transfer leaves alpha as it was. The browser twin (web/src/engine/tools/images.ts)
receives RGBA from the canvas and does the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turbodraft.models.manifest import ImageLimits
from turbodraft.tools.errors import ImageTooLarge, InvalidImage

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SplitImage:
    """RGB [H, W, 3] and alpha [H, W] (None when fully opaque), float32 in [0, 1]."""

    rgb: F32
    alpha: F32 | None

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def split(pixels: npt.NDArray[np.generic]) -> SplitImage:
    """uint8 [H, W] (gray), [H, W, 1|2|3|4] into float RGB and alpha; anything else is an InvalidImage."""
    array = np.asarray(pixels)
    if array.dtype != np.uint8:
        raise InvalidImage(f"tool images are 8-bit per channel, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise InvalidImage(f"an image is [height, width, 1-4 channels], got shape {list(array.shape)}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImage("the image is empty")
    channels = array.shape[2]
    color = array[:, :, :1].repeat(3, axis=2) if channels in (1, 2) else array[:, :, :3]
    rgb = color.astype(np.float32) / np.float32(255.0)
    alpha: F32 | None = None
    if channels in (2, 4):
        a = array[:, :, -1]
        if bool((a != 255).any()):
            alpha = a.astype(np.float32) / np.float32(255.0)
    return SplitImage(rgb, alpha)


def check_size(width: int, height: int, limits: ImageLimits, model_id: str) -> None:
    if min(width, height) < limits.min_side:
        raise InvalidImage(
            f"a {width}x{height} image is too small for {model_id}: each side needs at least {limits.min_side} px"
        )
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"a {width}x{height} image is over {model_id}'s limit of {limits.max_side} px a side and "
            f"{limits.max_pixels / 1e6:.1f} megapixels; scale it down first"
        )


def join(rgb: F32, alpha: F32 | None) -> F32:
    """RGB [H, W, 3] and alpha into RGBA [H, W, 4] (alpha 1 where None)."""
    a = np.ones(rgb.shape[:2], np.float32) if alpha is None else alpha
    return np.concatenate([rgb, a[:, :, None]], axis=2).astype(np.float32)


def to_uint8(pixels: F32) -> U8:
    """Floats in [0, 1] to 8 bits, rounding half up as the browser's ImageData conversion does."""
    out: U8 = np.floor(np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return out


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size to scale an image to so its longer side is at most `max_side` (previews); rounding half up,
    the same in the browser twin."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    k = max_side / longest
    return max(1, int(np.floor(width * k + 0.5))), max(1, int(np.floor(height * k + 0.5)))
