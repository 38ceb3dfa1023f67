/** The tools' pure functions against the vectors the Python twin is tested on (fixtures/tools). */
import { describe, expect, it } from 'vitest';
import resizeVectors from '../../../../fixtures/tools/resize.json';
import tilingVectors from '../../../../fixtures/tools/tiling.json';
import { resizePlanes } from './resize';
import { axisStarts, axisWeights, plan } from './tiling';

describe('resize', () => {
  it.each(resizeVectors.cases.map((c) => [`${String(c.input.length)}x${String(c.input[0]?.length)} -> ${String(c.height)}x${String(c.width)}`, c] as const))(
    'equals torch antialiased bilinear: %s',
    (_, c) => {
      const h = c.input.length;
      const w = c.input[0]?.length ?? 0;
      const got = resizePlanes(Float32Array.from(c.input.flat()), 1, h, w, c.height, c.width);
      const want = c.expected.flat();
      expect(got.length).toBe(want.length);
      got.forEach((v, i) => {
        expect(Math.abs(v - (want[i] ?? NaN))).toBeLessThan(2e-6);
      });
    },
  );
});

describe('tiling', () => {
  it.each(tilingVectors.cases.map((c) => [`L${String(c.length)} T${String(c.tile)} O${String(c.overlap)} x${String(c.scale)}`, c] as const))(
    'starts and weights equal the twin: %s',
    (_, c) => {
      const starts = axisStarts(c.length, c.tile, c.overlap, c.multiple);
      expect(starts).toEqual(c.starts);
      if (c.weights !== null) {
        const weights = axisWeights(c.length, starts, c.tile, c.overlap, c.scale).map((w) => Array.from(w));
        expect(weights).toEqual(c.weights);
      }
    },
  );

  it('makes a row-major plan with per-axis weights', () => {
    const tiles = plan(28, 40, 16, 10, 4);
    expect(tiles.length).toBe(15);
    expect(tiles.slice(0, 6).map((t) => [t.y, t.x])).toEqual([[0, 0], [0, 6], [0, 12], [0, 18], [0, 24], [6, 0]]);
    expect(tiles[0]?.wy.length).toBe(64);
  });

  it('refuses an overlap as large as the tile', () => {
    expect(() => axisStarts(10, 4, 4)).toThrow(/bad tiling/);
  });
});
