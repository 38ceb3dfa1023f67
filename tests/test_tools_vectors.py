"""The tools' pure functions against the vectors both twins read (fixtures/tools/resize.json, tiling.json)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest

from tests.tools_support import TOOLS
from turbodraft.tools.resize import resize
from turbodraft.tools.tiling import axis_starts, axis_weights, plan

RESIZE: list[dict[str, Any]] = json.loads((TOOLS / "resize.json").read_text())["cases"]
TILING: list[dict[str, Any]] = json.loads((TOOLS / "tiling.json").read_text())["cases"]


@pytest.mark.parametrize(
    "case", RESIZE, ids=lambda c: f"{len(c['input'])}x{len(c['input'][0])}->{c['height']}x{c['width']}"
)
def test_resize_equals_torch_antialiased_bilinear(case: dict[str, Any]) -> None:
    x = np.asarray(case["input"], np.float32)
    got = resize(x, case["height"], case["width"])
    np.testing.assert_allclose(got, np.asarray(case["expected"]), atol=2e-6)


def test_resize_applies_the_same_filter_to_every_channel() -> None:
    x = np.random.default_rng(3).random((9, 7, 3), dtype=np.float32)
    out = resize(x, 4, 5)
    for c in range(3):
        np.testing.assert_allclose(out[:, :, c], resize(x[:, :, c], 4, 5), atol=1e-7)


@pytest.mark.parametrize("case", TILING, ids=lambda c: f"L{c['length']}-T{c['tile']}-O{c['overlap']}-x{c['scale']}")
def test_tile_starts_and_weights_equal_the_shared_vectors(case: dict[str, Any]) -> None:
    starts = axis_starts(case["length"], case["tile"], case["overlap"], case["multiple"])
    assert starts == case["starts"]
    if case["weights"] is not None:
        weights = axis_weights(case["length"], starts, case["tile"], case["overlap"], case["scale"])
        assert [w.tolist() for w in weights] == case["weights"]


@pytest.mark.parametrize("case", TILING, ids=lambda c: f"L{c['length']}-T{c['tile']}-O{c['overlap']}")
def test_tiles_cover_every_pixel_with_weight_and_overlap_as_asked(case: dict[str, Any]) -> None:
    length, tile, overlap, scale = case["length"], case["tile"], case["overlap"], case["scale"]
    starts = axis_starts(length, tile, overlap, case["multiple"])
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))
    assert all(s % case["multiple"] == 0 for s in starts)
    total = np.zeros(length * scale)
    for start, w in zip(starts, axis_weights(length, starts, tile, overlap, scale), strict=True):
        total[start * scale : (start + size) * scale] += w
    assert (total > 0).all()


def test_a_plan_is_row_major_with_2d_weights() -> None:
    tiles = plan(28, 40, 16, 10, 4)
    # 40 px in 16 px tiles 10 apart at most: 5 columns at 0, 6, 12, 18, 24; 28 px: 3 rows at 0, 6, 12.
    assert [(t.y, t.x) for t in tiles][:6] == [(0, 0), (0, 6), (0, 12), (0, 18), (0, 24), (6, 0)]
    assert len(tiles) == 15
    assert all(t.weight.shape == (t.height * 4, t.width * 4) for t in tiles)


def test_bad_tilings_are_refused() -> None:
    with pytest.raises(ValueError, match="bad tiling"):
        axis_starts(10, 4, 4)
    with pytest.raises(ValueError, match="multiples of 2"):
        axis_starts(11, 4, 0, 2)
