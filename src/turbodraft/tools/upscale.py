"""Upscaling (Real-ESRGAN class, x2/x4), tiled with overlap: the Python twin of web/src/engine/tools/upscale.ts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from turbodraft.tools.errors import BadToolOutput, InvalidOption
from turbodraft.tools.images import F32, check_size, join, split
from turbodraft.tools.resize import resize
from turbodraft.tools.session import ToolSession
from turbodraft.tools.tiling import plan


def pad_to_multiple(rgb: F32, multiple: int) -> F32:
    """Repeat the last row/column until both sides divide by `multiple` (the output is cropped back)."""
    h, w = rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return rgb
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")


def upscale(
    session: ToolSession,
    pixels: npt.NDArray[np.generic],
    *,
    tile: int | None = None,
    overlap: int | None = None,
) -> F32:
    """uint8 image [H, W(, C)] to RGBA float [H*s, W*s, 4]; `tile`/`overlap` override the manifest's."""
    model = session.model
    params = model.upscale
    if params is None:
        raise InvalidOption(f"{model.id} is a {model.tool} model, not an upscaler")
    image = split(pixels)
    check_size(image.width, image.height, model.limits, model.id)
    tile = params.tile if tile is None else tile
    overlap = params.overlap if overlap is None else overlap
    if tile % params.multiple_of or not 0 <= overlap < tile:
        raise InvalidOption(f"tile {tile} / overlap {overlap} do not suit {model.id}")
    s = params.scale
    rgb = pad_to_multiple(image.rgb, params.multiple_of)
    ph, pw = rgb.shape[:2]
    acc = np.zeros((3, ph * s, pw * s), np.float64)
    total = np.zeros((ph * s, pw * s), np.float64)
    scale_in, scale_out = model.io.input_scale, model.io.output_scale
    for t in plan(ph, pw, tile, overlap, s, params.multiple_of):
        crop = rgb[t.y : t.y + t.height, t.x : t.x + t.width]
        nchw = (crop.transpose(2, 0, 1)[None] * np.float32(scale_in)).astype(np.float32)
        out = session.run(nchw)
        if out.shape != (3, t.height * s, t.width * s):
            raise BadToolOutput(f"{model.id} turned a {t.width}x{t.height} tile into {list(out.shape)}")
        ys, xs = slice(t.y * s, (t.y + t.height) * s), slice(t.x * s, (t.x + t.width) * s)
        acc[:, ys, xs] += out.astype(np.float64) / scale_out * t.weight
        total[ys, xs] += t.weight
    result = (acc / total)[:, : image.height * s, : image.width * s].transpose(1, 2, 0)
    rgb_out = np.clip(result, 0.0, 1.0).astype(np.float32)
    alpha = None if image.alpha is None else np.clip(resize(image.alpha, image.height * s, image.width * s), 0, 1)
    return join(rgb_out, alpha)
