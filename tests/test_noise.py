"""randn(seed, shape): seeded noise shared bit for bit with the browser engine (docs/fixtures.md, Noise)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from turbodraft.models.fixtures import fnv1a32
from turbodraft.pipeline.errors import InvalidRequest, InvalidSeed
from turbodraft.pipeline.noise import InvalidNoiseShape, fdlibm_log, randn, xoshiro128ss

VECTORS_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "noise" / "vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
SEEDS = [vector["seed"] for vector in VECTORS["vectors"]]


def vector_for(seed: int) -> dict[str, Any]:
    return next(v for v in VECTORS["vectors"] if v["seed"] == seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_first_256_values_match_the_shared_vectors_bit_for_bit(seed: int) -> None:
    expected = np.asarray(vector_for(seed)["first256"], dtype=np.float64).astype(np.float32)
    assert randn(seed, (256,)).view(np.uint32).tolist() == expected.view(np.uint32).tolist()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_512px_latent_matches_the_shared_checksum(seed: int) -> None:
    vector = vector_for(seed)
    full = randn(seed, tuple(vector["full_shape"]))
    assert full.dtype == np.float32
    assert full.shape == tuple(vector["full_shape"])
    assert float(full.flat[0]) == vector["full_first"]
    assert float(full.flat[-1]) == vector["full_last"]
    assert fnv1a32(full.astype("<f4").tobytes()) == vector["full_fnv1a32"]


@pytest.mark.parametrize("case", VECTORS["odd_shapes"], ids=lambda c: str(c["shape"]))
def test_odd_element_counts_drop_the_last_sine(case: dict[str, Any]) -> None:
    values = randn(case["seed"], tuple(case["shape"]))
    assert values.shape == tuple(case["shape"])
    assert values.flatten().tolist() == case["values"]


def test_the_first_values_of_a_shape_do_not_depend_on_the_shape() -> None:
    assert np.array_equal(randn(42, (1, 4, 8, 8)).flatten(), randn(42, (1, 4, 64, 64)).flatten()[:256])


def test_different_seeds_give_different_noise() -> None:
    assert not np.array_equal(randn(0, (64,)), randn(1, (64,)))


def test_noise_is_standard_normal() -> None:
    values = randn(123, (1, 4, 64, 64)).astype(np.float64)
    assert abs(values.mean()) < 0.03
    assert abs(values.std() - 1.0) < 0.03
    assert np.isfinite(values).all()


def test_the_lane_parallel_generator_equals_the_sequential_definition() -> None:
    mask = 0xFFFFFFFF

    def rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & mask

    state, seed = [], 99
    for _ in range(4):
        seed = (seed + 0x9E3779B9) & mask
        z = ((seed ^ (seed >> 16)) * 0x21F0AAAD) & mask
        z = ((z ^ (z >> 15)) * 0x735A2D97) & mask
        state.append(z ^ (z >> 15))
    s0, s1, s2, s3 = state
    expected = []
    for _ in range(5000):
        expected.append(rotl((s1 * 5) & mask, 7) * 9 & mask)
        t = (s1 << 9) & mask
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 11)
    assert xoshiro128ss(99, 5000).tolist() == expected


def test_the_log_port_is_within_one_ulp_of_the_platform_log() -> None:
    x = np.concatenate([np.random.default_rng(0).random(20000), [2.0**-53, 0.5, 1.0, 0.7071067811865476]])
    ours = fdlibm_log(x)
    reference = np.asarray([math.log(v) for v in x])
    assert np.all(np.abs(ours - reference) <= np.spacing(np.abs(reference)))


def test_a_512px_latent_takes_well_under_100_ms() -> None:
    randn(5, (1, 4, 64, 64))  # warm the jump-matrix cache, as a running server would have
    started = time.perf_counter()
    randn(6, (1, 4, 64, 64))
    assert time.perf_counter() - started < 0.1


def test_an_empty_shape_dimension_gives_an_empty_array() -> None:
    assert randn(1, (1, 4, 0, 8)).shape == (1, 4, 0, 8)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, 3.0, "7", None, True])
def test_a_seed_outside_the_uint32_integers_is_refused(seed: object) -> None:
    with pytest.raises(InvalidSeed, match=r"\[0, 2\*\*32\)"):
        randn(seed, (4,))  # type: ignore[arg-type]


def test_a_bad_seed_is_a_caller_error() -> None:
    assert issubclass(InvalidSeed, InvalidRequest)


@pytest.mark.parametrize("shape", [(1, -4), (2.0,), "1,4", (True, 2)])
def test_a_shape_that_is_not_non_negative_integers_is_refused(shape: object) -> None:
    with pytest.raises(InvalidNoiseShape):
        randn(1, shape)  # type: ignore[arg-type]


def test_numpy_integer_seeds_are_accepted() -> None:
    assert np.array_equal(randn(np.uint32(42), (8,)), randn(42, (8,)))
