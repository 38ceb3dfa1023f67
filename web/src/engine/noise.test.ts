import { describe, it, expect } from 'vitest';
import vectors from '../../../fixtures/noise/vectors.json';
import { fdlibmLog, InvalidNoiseShapeError, InvalidSeedError, randn } from './noise';

// FNV-1a 32-bit over the little-endian float32 bytes, as fixtures/noise/vectors.json defines its checksum.
function fnv1a32(values: Float32Array): number {
  const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
  let hash = 0x811c9dc5;
  for (let i = 0; i < values.length; i++) {
    const word = view.getUint32(i * 4, true);
    for (let b = 0; b < 4; b++) {
      hash = Math.imul(hash ^ ((word >>> (8 * b)) & 0xff), 0x01000193) >>> 0;
    }
  }
  return hash >>> 0;
}

describe('randn', () => {
  for (const vector of vectors.vectors) {
    it(`matches the shared first 256 values bit for bit (seed ${String(vector.seed)})`, () => {
      expect(Array.from(randn(vector.seed, [256]))).toEqual(vector.first256);
    });

    it(`matches the shared checksum of a 512px latent (seed ${String(vector.seed)})`, () => {
      const full = randn(vector.seed, vector.full_shape);
      expect(full.length).toBe(vector.full_shape.reduce((a, b) => a * b, 1));
      expect(full[0]).toBe(vector.full_first);
      expect(full[full.length - 1]).toBe(vector.full_last);
      expect(fnv1a32(full)).toBe(vector.full_fnv1a32);
    });
  }

  for (const odd of vectors.odd_shapes) {
    it(`drops the last sine for an odd element count (shape [${odd.shape.join(', ')}])`, () => {
      expect(Array.from(randn(odd.seed, odd.shape))).toEqual(odd.values);
    });
  }

  it('gives the same leading values whatever the shape', () => {
    expect(Array.from(randn(42, [1, 4, 8, 8]))).toEqual(Array.from(randn(42, [1, 4, 64, 64]).subarray(0, 256)));
  });

  it('gives different noise for different seeds', () => {
    expect(Array.from(randn(0, [64]))).not.toEqual(Array.from(randn(1, [64])));
  });

  it('returns an empty array for a zero dimension', () => {
    expect(randn(1, [1, 4, 0, 8]).length).toBe(0);
  });

  for (const seed of [-1, 2 ** 32, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    it(`refuses seed ${String(seed)} with InvalidSeedError`, () => {
      expect(() => randn(seed, [4])).toThrow(InvalidSeedError);
    });
  }

  it('refuses a seed that is not a number with InvalidSeedError', () => {
    expect(() => randn('7' as unknown as number, [4])).toThrow(InvalidSeedError);
  });

  for (const shape of [[1, -4], [2.5], [Number.NaN]]) {
    it(`refuses shape [${shape.join(', ')}] with InvalidNoiseShapeError`, () => {
      expect(() => randn(1, shape)).toThrow(InvalidNoiseShapeError);
    });
  }
});

describe('fdlibmLog', () => {
  it('equals Math.log where the engine uses fdlibm and is within one ulp elsewhere', () => {
    for (const x of [2 ** -53, 1e-10, 0.1, 0.5, 0.7071067811865476, 0.75, 0.999999, 1]) {
      const ours = fdlibmLog(x);
      const reference = Math.log(x);
      expect(Math.abs(ours - reference)).toBeLessThanOrEqual(Math.abs(reference) * 2 ** -52);
    }
  });
});
