"""Fast neural style (Johnson et al.): one feed-forward graph per style, blended with the original by
`strength`. The Python twin of web/src/engine/tools/style.ts."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from turbodraft.tools.errors import BadToolOutput, InvalidOption
from turbodraft.tools.images import F32, check_size, join, split
from turbodraft.tools.session import ToolSession
from turbodraft.tools.upscale import pad_to_multiple


def check_strength(strength: float) -> float:
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0.0 <= strength <= 1.0:
        raise InvalidOption(f"strength must be a number in [0, 1], got {strength!r}")
    if not math.isfinite(strength):
        raise InvalidOption(f"strength must be finite, got {strength!r}")
    return float(strength)


def blend(content: F32, styled: F32, strength: float) -> F32:
    """content + strength * (styled - content): 0 is the original, 1 the full style (the live slider)."""
    return (content + np.float32(strength) * (styled - content)).astype(np.float32)


def stylize(session: ToolSession, pixels: npt.NDArray[np.generic], *, strength: float = 1.0) -> F32:
    """uint8 image [H, W(, C)] to RGBA float [H, W, 4]; alpha is kept."""
    model = session.model
    params = model.style
    if params is None:
        raise InvalidOption(f"{model.id} is a {model.tool} model, not a style")
    strength = check_strength(strength)
    image = split(pixels)
    check_size(image.width, image.height, model.limits, model.id)
    rgb = pad_to_multiple(image.rgb, params.multiple_of)
    nchw = (rgb.transpose(2, 0, 1)[None] * np.float32(model.io.input_scale)).astype(np.float32)
    out = session.run(nchw)
    if out.shape != (3, *rgb.shape[:2]):
        raise BadToolOutput(f"{model.id} returned {list(out.shape)} for a {list(rgb.shape[:2])} image")
    styled = np.clip(out.transpose(1, 2, 0) / np.float32(model.io.output_scale), 0.0, 1.0)
    styled = styled[: image.height, : image.width].astype(np.float32)
    return join(blend(image.rgb, styled, strength), image.alpha)
