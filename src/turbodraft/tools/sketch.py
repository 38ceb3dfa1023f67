"""Sketch-to-image's input: a frame's rendering (RGBA, usually transparent around the strokes) as the init
image of SD-Turbo img2img. Mirror of web/src/engine/tools/sketch.ts.

Straight alpha is composited over white (paper), then the picture is resized (antialiased triangle filter,
turbodraft.tools.resize) to the model's size: float [H, W, 3] in [0, 1], what `GenerateRequest.init_image`
and the browser engine's `initImage` take.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from turbodraft.tools.images import F32, split
from turbodraft.tools.resize import resize


def sketch_init_image(pixels: npt.NDArray[np.generic], width: int, height: int) -> F32:
    image = split(pixels)
    rgb = image.rgb
    if image.alpha is not None:
        a = image.alpha[:, :, None]
        rgb = (rgb * a + (np.float32(1.0) - a)).astype(np.float32)
    if (image.width, image.height) != (width, height):
        rgb = resize(rgb, height, width)
    out: F32 = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    return out
