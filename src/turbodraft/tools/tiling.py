"""Tiles with overlap for the upscalers, so any image fits in GPU memory and no seam shows.

Along each axis of `length` input pixels, tiles of `tile` pixels start at

    n = 1 + ceil((length - tile) / (tile - overlap)),   start_i = floor(i * (length - tile) / (n - 1))

(one tile of the whole length when it fits), so neighbours overlap by at least `overlap` pixels and the last
tile ends at the border. A model that needs sides divisible by m (RRDB x2 unshuffles pixels by 2) gets the
same plan computed in units of m pixels, so tiles also start on its grid.

Each tile's upscaled output is blended with a per-axis weight that, from an edge it shares with a
neighbour, is 0 for the first `margin = overlap // 2` input pixels (where the tile's own border disturbs the
model) and ramps linearly to 1 over the rest of the overlap; image borders get no ramp. A pixel's value is
the weighted mean of the tiles covering it, and some tile always weighs it above 0.

With `margin` at least the model's receptive-field radius the blend equals the untiled result exactly (the
fixtures' test); beyond it the ramp hides what differences remain. The browser twin
(web/src/engine/tools/tiling.ts) is checked against fixtures/tools/tiling.json, made from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def axis_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Tile starts along one axis. With `multiple` > 1 (length and tile divisible by it) the plan is made in
    units of `multiple` pixels, so every tile starts on the grid a pixel-unshuffling model needs."""
    if multiple > 1:
        if length % multiple or tile % multiple:
            raise ValueError(f"length {length} and tile {tile} must be multiples of {multiple}")
        coarse = axis_starts(length // multiple, tile // multiple, -(-overlap // multiple))
        return [s * multiple for s in coarse]
    if length < 1 or tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"bad tiling: length {length}, tile {tile}, overlap {overlap}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    n = 1 + -(-(length - tile) // stride)
    return [(i * (length - tile)) // (n - 1) for i in range(n)]


def axis_weights(length: int, starts: list[int], tile: int, overlap: int, scale: int) -> list[F64]:
    """Per tile, the blend weight of each of its output pixels along this axis."""
    size = min(tile, length) * scale
    margin = (overlap // 2) * scale
    ramp = max(overlap * scale - margin, 1)
    d = np.arange(size, dtype=np.float64) + 0.5  # distance of each output pixel's centre from the tile's start
    out: list[F64] = []
    for start in starts:
        w = np.ones(size, np.float64)
        if start > 0:
            w = np.minimum(w, np.clip((d - margin) / ramp, 0.0, 1.0))
        if start + min(tile, length) < length:
            w = np.minimum(w, np.clip((size - d - margin) / ramp, 0.0, 1.0))
        out.append(w)
    return out


@dataclass(frozen=True)
class Tile:
    """One tile in input pixels, and its blend weights [h * scale, w * scale]."""

    y: int
    x: int
    height: int
    width: int
    weight: F64


def plan(height: int, width: int, tile: int, overlap: int, scale: int, multiple: int = 1) -> list[Tile]:
    """Row-major tiles covering a height x width image."""
    ys, xs = axis_starts(height, tile, overlap, multiple), axis_starts(width, tile, overlap, multiple)
    wy = axis_weights(height, ys, tile, overlap, scale)
    wx = axis_weights(width, xs, tile, overlap, scale)
    th, tw = min(tile, height), min(tile, width)
    return [Tile(y, x, th, tw, np.outer(wy[i], wx[j])) for i, y in enumerate(ys) for j, x in enumerate(xs)]
