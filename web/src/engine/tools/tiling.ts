/**
 * Tiles with overlap for the upscalers (mirror of turbodraft/tools/tiling.py, whose docstring gives the
 * plan): starts spread evenly so neighbours overlap by at least `overlap`; blend weights 0 for the first
 * `overlap // 2` pixels from a shared edge, then a linear ramp to 1. Checked against fixtures/tools/tiling.json.
 */

export function axisStarts(length: number, tile: number, overlap: number, multiple = 1): number[] {
  if (multiple > 1) {
    if (length % multiple !== 0 || tile % multiple !== 0) {
      throw new RangeError(`length ${String(length)} and tile ${String(tile)} must be multiples of ${String(multiple)}`);
    }
    return axisStarts(length / multiple, tile / multiple, Math.ceil(overlap / multiple)).map((s) => s * multiple);
  }
  if (length < 1 || tile < 1 || overlap < 0 || overlap >= tile) {
    throw new RangeError(`bad tiling: length ${String(length)}, tile ${String(tile)}, overlap ${String(overlap)}`);
  }
  if (length <= tile) return [0];
  const n = 1 + Math.ceil((length - tile) / (tile - overlap));
  return Array.from({ length: n }, (_, i) => Math.floor((i * (length - tile)) / (n - 1)));
}

export function axisWeights(length: number, starts: readonly number[], tile: number, overlap: number, scale: number): Float64Array[] {
  const covered = Math.min(tile, length);
  const size = covered * scale;
  const margin = Math.floor(overlap / 2) * scale;
  const ramp = Math.max(overlap * scale - margin, 1);
  return starts.map((start) => {
    const w = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      const d = i + 0.5;
      let v = 1;
      if (start > 0) v = Math.min(v, Math.min(Math.max((d - margin) / ramp, 0), 1));
      if (start + covered < length) v = Math.min(v, Math.min(Math.max((size - d - margin) / ramp, 0), 1));
      w[i] = v;
    }
    return w;
  });
}

export interface Tile {
  readonly y: number;
  readonly x: number;
  readonly height: number;
  readonly width: number;
  /** Blend weights along y (height * scale) and x (width * scale); the tile's weight is their product. */
  readonly wy: Float64Array;
  readonly wx: Float64Array;
}

export function plan(height: number, width: number, tile: number, overlap: number, scale: number, multiple = 1): Tile[] {
  const ys = axisStarts(height, tile, overlap, multiple);
  const xs = axisStarts(width, tile, overlap, multiple);
  const wys = axisWeights(height, ys, tile, overlap, scale);
  const wxs = axisWeights(width, xs, tile, overlap, scale);
  const th = Math.min(tile, height);
  const tw = Math.min(tile, width);
  const tiles: Tile[] = [];
  ys.forEach((y, i) => {
    xs.forEach((x, j) => {
      tiles.push({ y, x, height: th, width: tw, wy: wys[i] ?? new Float64Array(0), wx: wxs[j] ?? new Float64Array(0) });
    });
  });
  return tiles;
}
