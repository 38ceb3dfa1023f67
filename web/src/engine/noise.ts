/**
 * Seeded standard-normal noise, bit-identical to the Python twin's `src/turbodraft/pipeline/noise.py`.
 *
 * Specified once in docs/fixtures.md ("Noise"): splitmix32 seeds xoshiro128**, two draws make a 53-bit uniform
 * in (0, 1], Box-Muller turns two uniforms into two normals in float64, cast to float32 last. log, sin and cos
 * are fdlibm ports using only + - * / and bit access, because Math.log/sin/cos are not specified to the last bit
 * and differ between engines (V8 and SpiderMonkey use fdlibm, JavaScriptCore the system libm).
 */

export const SEED_LIMIT = 2 ** 32;

export class InvalidSeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSeedError';
  }
}

export class InvalidNoiseShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidNoiseShapeError';
  }
}

export function validateSeed(seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= SEED_LIMIT) {
    throw new InvalidSeedError(`seed must be an integer in [0, 2**32), got ${String(seed)}`);
  }
  return seed;
}

function validateShape(shape: unknown): number {
  if (!Array.isArray(shape)) {
    throw new InvalidNoiseShapeError(`shape must be an array of non-negative integers, got ${String(shape)}`);
  }
  let count = 1;
  for (const dim of shape as unknown[]) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw new InvalidNoiseShapeError(`shape must be an array of non-negative integers, got [${shape.join(', ')}]`);
    }
    count *= dim;
  }
  if (!Number.isSafeInteger(count) || count > 2 ** 30) {
    throw new InvalidNoiseShapeError(`shape [${shape.join(', ')}] holds too many values`);
  }
  return count;
}

/** xoshiro128**'s four state words: four successive splitmix32 outputs starting from the seed. */
export function splitmix32State(seed: number): Uint32Array {
  const words = new Uint32Array(4);
  let state = validateSeed(seed) >>> 0;
  for (let i = 0; i < 4; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    words[i] = (z ^ (z >>> 15)) >>> 0;
  }
  return words;
}

/** A xoshiro128** generator seeded through splitmix32; next() returns a uint32. */
export class Xoshiro128ss {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    const s = splitmix32State(seed);
    this.s0 = s[0] ?? 0;
    this.s1 = s[1] ?? 0;
    this.s2 = s[2] ?? 0;
    this.s3 = s[3] ?? 0;
  }

  next(): number {
    const x = Math.imul(this.s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** (a * 2**26 + b + 1) / 2**53 with a = x1 >>> 5, b = x2 >>> 6: a double in (0, 1]. */
  nextUniform(): number {
    const a = this.next() >>> 5;
    const b = this.next() >>> 6;
    return (a * 67108864 + b + 1) / 9007199254740992;
  }
}

const bits = new DataView(new ArrayBuffer(8));

// fdlibm e_log.c constants (hex in docs/fixtures.md).
const LN2_HI = 6.93147180369123816490e-01;
const LN2_LO = 1.90821492927058770002e-10;
const LG1 = 6.666666666666735130e-01;
const LG2 = 3.999999999940941908e-01;
const LG3 = 2.857142874366239149e-01;
const LG4 = 2.222219843214978396e-01;
const LG5 = 1.818357216161805012e-01;
const LG6 = 1.531383769920937332e-01;
const LG7 = 1.479819860511658591e-01;

/** fdlibm __ieee754_log for positive normal doubles (all uniforms here are >= 2**-53). */
export function fdlibmLog(x: number): number {
  bits.setFloat64(0, x);
  let hx = bits.getInt32(0);
  let k = (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const i = (hx + 0x95f64) & 0x100000;
  // Normalise x into [sqrt(2)/2, sqrt(2)) by rewriting its exponent.
  bits.setInt32(0, hx | (i ^ 0x3ff00000));
  const xn = bits.getFloat64(0);
  k += i >> 20;
  const f = xn - 1.0;
  const dk = k;
  if ((0x000fffff & (2 + hx)) < 3) {
    if (f === 0) return k === 0 ? 0 : dk * LN2_HI + dk * LN2_LO;
    const r = f * f * (0.5 - 0.3333333333333333 * f);
    return k === 0 ? f - r : dk * LN2_HI - ((r - dk * LN2_LO) - f);
  }
  const s = f / (2.0 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const r = t2 + t1;
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    const hfsq = 0.5 * f * f;
    return k === 0 ? f - (hfsq - s * (hfsq + r)) : dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
  }
  return k === 0 ? f - s * (f - r) : dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f);
}

// fdlibm k_sin.c / k_cos.c (FreeBSD msun revision) kernels on [-pi/4, pi/4].
const S1 = -1.66666666666666324348e-01;
const S2 = 8.33333333332248946124e-03;
const S3 = -1.98412698298579493134e-04;
const S4 = 2.75573137070700676789e-06;
const S5 = -2.50507602534068634195e-08;
const S6 = 1.58969099521155010221e-10;
const C1 = 4.16666666666666019037e-02;
const C2 = -1.38888888888741095749e-03;
const C3 = 2.48015872894767294178e-05;
const C4 = -2.75573143513906633035e-07;
const C5 = 2.08757232129817482790e-09;
const C6 = -1.13596475577881948265e-11;
const PIO2 = 1.5707963267948966;

function kernelSin(x: number): number {
  const z = x * x;
  const w = z * z;
  const r = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6);
  const v = z * x;
  return x + v * (S1 + z * r);
}

function kernelCos(x: number): number {
  const z = x * x;
  let w = z * z;
  const r = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
  const hz = 0.5 * z;
  w = 1.0 - hz;
  return w + ((1.0 - w - hz) + z * r);
}

/** [cos, sin] of 2*pi*u for u in (0, 1]: exact quarter-turn reduction, then the fdlibm kernels. */
export function cosSinTurns(u: number): [number, number] {
  const q = 4.0 * u;
  let quarter = Math.floor(q);
  let frac = q - quarter; // exact: q has at most 53 significant bits above 2**-51
  if (frac > 0.5) {
    quarter += 1;
    frac -= 1.0;
  }
  const x = frac * PIO2;
  const c = kernelCos(x);
  const s = kernelSin(x);
  switch (quarter & 3) {
    case 0:
      return [c, s];
    case 1:
      return [-s, c];
    case 2:
      return [-c, -s];
    default:
      return [s, -c];
  }
}

/** Standard-normal float32 noise with `shape`'s element count, the same bits as Python's randn(seed, shape). */
export function randn(seed: number, shape: number[]): Float32Array {
  validateSeed(seed);
  const count = validateShape(shape);
  const out = new Float32Array(count);
  const rng = new Xoshiro128ss(seed);
  for (let i = 0; i < count; i += 2) {
    const u1 = rng.nextUniform();
    const u2 = rng.nextUniform();
    const radius = Math.sqrt(-2.0 * fdlibmLog(u1));
    const [cos, sin] = cosSinTurns(u2);
    out[i] = radius * cos;
    if (i + 1 < count) out[i + 1] = radius * sin;
  }
  return out;
}
