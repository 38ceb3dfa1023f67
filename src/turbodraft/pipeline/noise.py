"""Seeded standard-normal noise, bit-identical to the browser engine's `web/src/engine/noise.ts`.

The algorithm is specified once in docs/fixtures.md ("Noise"): splitmix32 seeds xoshiro128**, two draws make
a 53-bit uniform in (0, 1], Box-Muller turns two uniforms into two normals, all in float64, cast to float32
last. log, sin and cos are ported from fdlibm (the code V8 uses for Math.log/sin/cos) with only +, -, *, / and
bit manipulation, because platform libms (glibc, numpy's SIMD loops, Safari's libm) may differ in the last bit
and a different bit would change a seed's image.

xoshiro128** is sequential, so a pure-Python loop over 32k draws would be slow; its state transition is linear
over GF(2), so we jump: compute the transition to the power B once as a 128x128 bit matrix, run the generator
in many lanes that start B draws apart, and step all lanes together with numpy.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
import numpy.typing as npt

from turbodraft.pipeline.errors import InvalidLatents, InvalidSeed

SEED_LIMIT = 2**32
_MASK32 = 0xFFFFFFFF
U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]


class InvalidNoiseShape(InvalidLatents):
    """A noise shape that is not a tuple of non-negative integers."""


def validate_seed(seed: object) -> int:
    """The seed as an int, or InvalidSeed: an integer in [0, 2**32), never a bool or float."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidSeed(f"seed must be an integer in [0, 2**32), got {type(seed).__name__} {seed!r}")
    value = int(seed)
    if not 0 <= value < SEED_LIMIT:
        raise InvalidSeed(f"seed must be an integer in [0, 2**32), got {value}")
    return value


def _validate_shape(shape: object) -> tuple[int, ...]:
    if not isinstance(shape, tuple | list):
        raise InvalidNoiseShape(f"shape must be a tuple of non-negative integers, got {shape!r}")
    dims: list[int] = []
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or int(dim) < 0:
            raise InvalidNoiseShape(f"shape must be a tuple of non-negative integers, got {shape!r}")
        dims.append(int(dim))
    return tuple(dims)


def splitmix32_state(seed: int) -> tuple[int, int, int, int]:
    """xoshiro128**'s four state words: four successive splitmix32 outputs starting from the seed."""
    words: list[int] = []
    state = seed
    for _ in range(4):
        state = (state + 0x9E3779B9) & _MASK32
        z = state
        z = ((z ^ (z >> 16)) * 0x21F0AAAD) & _MASK32
        z = ((z ^ (z >> 15)) * 0x735A2D97) & _MASK32
        words.append(z ^ (z >> 15))
    # splitmix32 is a bijection of distinct states, so at most one word is 0 and the state is never all zero.
    return words[0], words[1], words[2], words[3]


def _rotl(x: U32, k: int) -> U32:
    return (x << np.uint32(k)) | (x >> np.uint32(32 - k))


def _step(s0: U32, s1: U32, s2: U32, s3: U32) -> tuple[U32, U32, U32, U32, U32]:
    """One xoshiro128** draw in every lane: (output, next state words)."""
    out = _rotl(s1 * np.uint32(5), 7) * np.uint32(9)
    t = s1 << np.uint32(9)
    s2 = s2 ^ s0
    s3 = s3 ^ s1
    s1 = s1 ^ s2
    s0 = s0 ^ s3
    s2 = s2 ^ t
    s3 = _rotl(s3, 11)
    return out, s0, s1, s2, s3


def _words_to_bits(words: U32) -> npt.NDArray[np.uint8]:
    """[lanes, 4] uint32 -> [lanes, 128] bits, word 0 bit 0 first."""
    shifts = np.arange(32, dtype=np.uint32)
    return ((words[:, :, None] >> shifts) & np.uint32(1)).astype(np.uint8).reshape(words.shape[0], 128)


def _bits_to_words(bits: npt.NDArray[np.uint8]) -> U32:
    weights = np.uint32(1) << np.arange(32, dtype=np.uint32)
    grouped = bits.reshape(bits.shape[0], 4, 32).astype(np.uint32)
    words: U32 = np.bitwise_or.reduce(grouped * weights, axis=2)
    return words


@functools.lru_cache(maxsize=16)
def _jump_matrix(distance: int) -> npt.NDArray[np.float32]:
    """The state transition to the power `distance` as a 128x128 0/1 matrix (row = input bit)."""
    basis = np.zeros((128, 4), dtype=np.uint32)
    for bit in range(128):
        basis[bit, bit // 32] = np.uint32(1) << np.uint32(bit % 32)
    s0, s1, s2, s3 = basis[:, 0].copy(), basis[:, 1].copy(), basis[:, 2].copy(), basis[:, 3].copy()
    for _ in range(distance):
        _, s0, s1, s2, s3 = _step(s0, s1, s2, s3)
    # float32 holds the 0/1 products and their sums (<= 128) exactly, and its matmul is fast.
    return _words_to_bits(np.stack([s0, s1, s2, s3], axis=1)).astype(np.float32)


def xoshiro128ss(seed: int, count: int) -> U32:
    """The first `count` outputs of xoshiro128** seeded through splitmix32."""
    seed = validate_seed(seed)
    if count <= 0:
        return np.zeros(0, dtype=np.uint32)
    lane_length = max(64, 1 << math.ceil(math.log2(math.isqrt(count) + 1)))
    lanes = -(-count // lane_length)
    starts = np.zeros((lanes, 4), dtype=np.uint32)
    starts[0] = splitmix32_state(seed)
    if lanes > 1:
        jump = _jump_matrix(lane_length)
        bits = _words_to_bits(starts[:1])
        for lane in range(1, lanes):
            bits = ((bits.astype(np.float32) @ jump).astype(np.int64) & 1).astype(np.uint8)
            starts[lane] = _bits_to_words(bits)[0]
    s0, s1, s2, s3 = (starts[:, i].copy() for i in range(4))
    out = np.empty((lanes, lane_length), dtype=np.uint32)
    for k in range(lane_length):
        out[:, k], s0, s1, s2, s3 = _step(s0, s1, s2, s3)
    return out.reshape(-1)[:count]


def uniforms(draws: U32) -> F64:
    """Pairs of draws -> doubles in (0, 1]: (a * 2**26 + b + 1) / 2**53 with a = x1 >> 5, b = x2 >> 6."""
    a = (draws[0::2] >> np.uint32(5)).astype(np.float64)
    b = (draws[1::2] >> np.uint32(6)).astype(np.float64)
    result: F64 = (a * 67108864.0 + b + 1.0) / 9007199254740992.0
    return result


# fdlibm e_log.c constants (hex in the spec, docs/fixtures.md).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)


def fdlibm_log(x: F64) -> F64:
    """fdlibm __ieee754_log for positive normal doubles (all our uniforms are >= 2**-53)."""
    bits = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    hx = (bits >> np.uint64(32)).astype(np.int64)
    low = bits & np.uint64(_MASK32)
    k = (hx >> 20) - 1023
    hx = hx & 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    # Normalise x into [sqrt(2)/2, sqrt(2)) by rewriting its exponent.
    high = (hx | (i ^ 0x3FF00000)).astype(np.uint64)
    xn = ((high << np.uint64(32)) | low).view(np.float64)
    k = k + (i >> 20)
    f = xn - 1.0
    dk = k.astype(np.float64)
    lg1, lg2, lg3, lg4, lg5, lg6, lg7 = _LG

    # |f| < 2**-20: a short series.
    r_small = f * f * (0.5 - 0.3333333333333333 * f)
    tiny = np.where(
        f == 0.0,
        dk * _LN2_HI + dk * _LN2_LO,
        np.where(k == 0, f - r_small, dk * _LN2_HI - ((r_small - dk * _LN2_LO) - f)),
    )

    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (lg2 + w * (lg4 + w * lg6))
    t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)))
    r = t2 + t1
    hfsq = 0.5 * f * f
    far = ((hx - 0x6147A) | (0x6B851 - hx)) > 0
    with_hfsq = np.where(
        k == 0,
        f - (hfsq - s * (hfsq + r)),
        dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f),
    )
    without_hfsq = np.where(k == 0, f - s * (f - r), dk * _LN2_HI - ((s * (f - r) - dk * _LN2_LO) - f))
    general = np.where(far, with_hfsq, without_hfsq)
    result: F64 = np.where((0x000FFFFF & (2 + hx)) < 3, tiny, general)
    return result


# fdlibm k_sin.c / k_cos.c (FreeBSD msun revision) kernels on [-pi/4, pi/4].
_S = (
    -1.66666666666666324348e-01,
    8.33333333332248946124e-03,
    -1.98412698298579493134e-04,
    2.75573137070700676789e-06,
    -2.50507602534068634195e-08,
    1.58969099521155010221e-10,
)
_C = (
    4.16666666666666019037e-02,
    -1.38888888888741095749e-03,
    2.48015872894767294178e-05,
    -2.75573143513906633035e-07,
    2.08757232129817482790e-09,
    -1.13596475577881948265e-11,
)
_PIO2 = 1.5707963267948966


def _kernel_sin(x: F64) -> F64:
    s1, s2, s3, s4, s5, s6 = _S
    z = x * x
    w = z * z
    r = s2 + z * (s3 + z * s4) + z * w * (s5 + z * s6)
    v = z * x
    result: F64 = x + v * (s1 + z * r)
    return result


def _kernel_cos(x: F64) -> F64:
    c1, c2, c3, c4, c5, c6 = _C
    z = x * x
    w = z * z
    r = z * (c1 + z * (c2 + z * c3)) + w * w * (c4 + z * (c5 + z * c6))
    hz = 0.5 * z
    w = 1.0 - hz
    result: F64 = w + (((1.0 - w) - hz) + (z * r))
    return result


def cos_sin_turns(u: F64) -> tuple[F64, F64]:
    """(cos, sin) of 2*pi*u for u in (0, 1]: exact quarter-turn reduction, then the fdlibm kernels."""
    q = 4.0 * u
    quarter = np.floor(q)
    frac = q - quarter  # exact: q has at most 53 significant bits above 2**-51
    up = frac > 0.5
    quarter = np.where(up, quarter + 1.0, quarter)
    frac = np.where(up, frac - 1.0, frac)
    x = frac * _PIO2
    c = _kernel_cos(x)
    s = _kernel_sin(x)
    n = quarter.astype(np.int64) & 3
    cos = np.select([n == 0, n == 1, n == 2], [c, -s, -c], default=s)
    sin = np.select([n == 0, n == 1, n == 2], [s, c, -s], default=-c)
    return cos, sin


def randn(seed: int, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """Standard-normal float32 noise of `shape`, the same bits as the browser's randn(seed, shape)."""
    seed = validate_seed(seed)
    dims = _validate_shape(shape)
    count = functools.reduce(operator.mul, dims, 1)
    pairs = (count + 1) // 2
    u = uniforms(xoshiro128ss(seed, 4 * pairs))
    u1, u2 = u[0::2], u[1::2]
    radius = np.sqrt(-2.0 * fdlibm_log(u1))
    cos, sin = cos_sin_turns(u2)
    normals = np.empty(2 * pairs, dtype=np.float64)
    normals[0::2] = radius * cos
    normals[1::2] = radius * sin
    return normals[:count].astype(np.float32).reshape(dims)
