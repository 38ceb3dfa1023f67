"""Resampling with a triangle (bilinear) filter that widens when shrinking: torch's
`F.interpolate(mode="bilinear", align_corners=False, antialias=True)`, which is PIL's BILINEAR.

Background removal resizes the image to the model's square and its matte back to the image; the browser twin
(web/src/engine/tools/resize.ts) computes the same weights, checked against torch on fixtures/tools/resize.json.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def axis_weights(in_size: int, out_size: int) -> tuple[list[int], list[F64]]:
    """For each output index: the first input index it reads and the normalised weights from there on."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"cannot resize {in_size} to {out_size}")
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    starts: list[int] = []
    weights: list[F64] = []
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        taps = np.arange(lo, hi, dtype=np.float64)
        w = np.maximum(0.0, 1.0 - np.abs((taps - center + 0.5) * inv))
        total = float(w.sum())
        starts.append(lo)
        weights.append(w / total if total > 0 else w)
    return starts, weights


def _resize_axis(image: F64, axis: int, out_size: int) -> F64:
    in_size = image.shape[axis]
    if in_size == out_size:
        return image
    moved = np.moveaxis(image, axis, 0)
    starts, weights = axis_weights(in_size, out_size)
    out = np.empty((out_size, *moved.shape[1:]), np.float64)
    for i, (lo, w) in enumerate(zip(starts, weights, strict=True)):
        out[i] = np.tensordot(w, moved[lo : lo + len(w)], axes=(0, 0))
    return np.moveaxis(out, 0, axis)


def resize(image: F32, height: int, width: int) -> F32:
    """[H, W] or [H, W, C] float image to [height, width(, C)]; width first, then height, as torch does."""
    if image.ndim not in (2, 3):
        raise ValueError(f"resize takes [H, W] or [H, W, C], got {image.shape}")
    if not (math.isfinite(height) and math.isfinite(width)) or height < 1 or width < 1:
        raise ValueError(f"cannot resize to {width}x{height}")
    out = _resize_axis(image.astype(np.float64), 1, width)
    out = _resize_axis(out, 0, height)
    return out.astype(np.float32)
