"""What the canvas-tool tests share: the PyTorch references in fixtures/tools and how to run a case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from tests.conftest import FIXTURES
from turbodraft.tools import ToolSession, remove_background, stylize, upscale

TOOLS = FIXTURES / "tools"
META: dict[str, Any] = json.loads((TOOLS / "cases.json").read_text())
CASES: list[dict[str, Any]] = META["cases"]
SENSITIVITY: dict[str, dict[str, float]] = json.loads((TOOLS / "sensitivity.json").read_text())


def input_pixels(name: str) -> npt.NDArray[np.uint8]:
    """The 8-bit pixels of an input PNG as stored (L, RGB or RGBA): what both twins start from."""
    with Image.open(TOOLS / name) as image:
        return np.asarray(image).copy()


def reference(case: dict[str, Any]) -> npt.NDArray[np.float32]:
    ref: npt.NDArray[np.float32] = np.load(TOOLS / case["reference"])
    return ref


def run_case(session: ToolSession, case: dict[str, Any], **overrides: Any) -> npt.NDArray[np.float32]:
    pixels = input_pixels(case["input"])
    if case["tool"] == "upscale":
        return upscale(session, pixels, **overrides)
    if case["tool"] == "matte":
        return remove_background(session, pixels)
    return stylize(session, pixels, strength=case["options"]["strength"])


def sessions(models_dir: Path) -> dict[str, ToolSession]:
    return {m: ToolSession.for_model(m, models_dir) for m in sorted({c["model"] for c in CASES})}
