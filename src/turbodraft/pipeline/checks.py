"""Guards between stages: a NaN, Inf or all-zero tensor is a failure, never a black image.

An fp16 graph on a backend without fp16 support has been seen to return all zeros silently, so the twin
refuses such outputs the same way the browser engine must.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from turbodraft.pipeline.errors import BadOutput


def check_output(stage: str, array: npt.NDArray[np.floating]) -> None:
    if array.size == 0:
        raise BadOutput(stage, "an empty tensor")
    finite = np.isfinite(array)
    if not finite.all():
        kind = "NaN" if np.isnan(array).any() else "Inf"
        raise BadOutput(stage, f"{kind} values ({int((~finite).sum())} of {array.size})")
    if not np.any(array):
        raise BadOutput(stage, "all zeros")
