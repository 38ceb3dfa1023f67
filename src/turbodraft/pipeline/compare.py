"""Image comparison used by the oracle tests, the browser-engine checks and the benches."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def psnr(image: npt.NDArray[np.floating], reference: npt.NDArray[np.floating]) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]; inf when they are equal."""
    a = np.asarray(image, dtype=np.float64).reshape(-1)
    b = np.asarray(reference, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {np.shape(image)} vs {np.shape(reference)}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)
