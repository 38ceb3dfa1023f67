"""Background removal (U2-Net class): an RGBA image with a soft alpha at the image's own size.
The Python twin of web/src/engine/tools/matte.ts.

As the authors' inference code does: resize to the model's square, (U2-Net) divide by the resized image's
maximum, normalise by mean/std, take the first output (the fused map), rescale it by its min and max, resize
it back. A map without range (constant) is kept as it is rather than divided by zero.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from turbodraft.tools.errors import BadToolOutput, InvalidOption
from turbodraft.tools.images import F32, check_size, join, split
from turbodraft.tools.resize import resize
from turbodraft.tools.session import ToolSession

#: Below this range the map is treated as constant (no min-max stretch).
FLAT_RANGE = 1e-6


def model_input(
    rgb: F32, resolution: int, mean: tuple[float, float, float], std: tuple[float, float, float], divide_by_max: bool
) -> F32:
    x = resize(rgb, resolution, resolution)
    if divide_by_max:
        x = (x / max(float(x.max()), 1e-6)).astype(np.float32)
    x = ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)
    nchw: F32 = x.transpose(2, 0, 1)[None].astype(np.float32)
    return nchw


def stretch(matte: F32) -> F32:
    lo, hi = float(matte.min()), float(matte.max())
    if hi - lo < FLAT_RANGE:
        return matte
    return ((matte - np.float32(lo)) / np.float32(hi - lo)).astype(np.float32)


def remove_background(session: ToolSession, pixels: npt.NDArray[np.generic]) -> F32:
    """uint8 image [H, W(, C)] to RGBA float [H, W, 4]: the image's colours, alpha = matte x its own alpha."""
    model = session.model
    params = model.matte
    if params is None:
        raise InvalidOption(f"{model.id} is a {model.tool} model, not a background remover")
    image = split(pixels)
    check_size(image.width, image.height, model.limits, model.id)
    x = model_input(image.rgb, params.resolution, params.mean, params.std, params.divide_by_max)
    out = session.run(x * np.float32(model.io.input_scale))
    if out.shape[1:] != (params.resolution, params.resolution):
        raise BadToolOutput(f"{model.id} returned a {list(out.shape)} map for a {params.resolution}px input")
    matte = out[0] / np.float32(model.io.output_scale)
    if params.minmax:
        matte = stretch(matte)
    alpha = np.clip(resize(matte, image.height, image.width), 0.0, 1.0)
    if image.alpha is not None:
        alpha = alpha * image.alpha
    return join(image.rgb, alpha.astype(np.float32))
