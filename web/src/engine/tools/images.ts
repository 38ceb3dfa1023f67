/**
 * Pixels in and out of the tools (mirror of turbodraft/tools/images.py). The canvas hands RGBA bytes; a gray
 * image arrives with equal channels and runs as RGB. Transparency is kept, never guessed: fully opaque alpha is
 * dropped (alpha = null), any other alpha travels beside the colour planes.
 */
import { EngineError } from '../errors';
import type { ImageLimits } from './manifest';

/** 8-bit RGBA, row-major, as ImageData holds it. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array | Uint8ClampedArray;
}

/** Planar float RGB [3, H, W] in [0, 1], and alpha [H, W] (null when fully opaque). */
export interface Planes {
  readonly width: number;
  readonly height: number;
  readonly rgb: Float32Array;
  readonly alpha: Float32Array | null;
}

/** `image` itself when it is well formed RGBA, else an 'invalid-image' error saying what is wrong. */
export function checkedImage(image: RgbaImage): RgbaImage {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new EngineError('invalid-image', `an image needs a positive integer size, got ${String(width)}x${String(height)}`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray) || data.length !== width * height * 4) {
    throw new EngineError('invalid-image', `a ${String(width)}x${String(height)} image needs ${String(width * height * 4)} RGBA bytes`);
  }
  return image;
}

export function split(image: RgbaImage): Planes {
  const { width, height, data } = checkedImage(image);
  const n = width * height;
  const rgb = new Float32Array(3 * n);
  let opaque = true;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) rgb[c * n + p] = Math.fround((data[p * 4 + c] ?? 0) / 255);
    if (data[p * 4 + 3] !== 255) opaque = false;
  }
  let alpha: Float32Array | null = null;
  if (!opaque) {
    alpha = new Float32Array(n);
    for (let p = 0; p < n; p++) alpha[p] = Math.fround((data[p * 4 + 3] ?? 0) / 255);
  }
  return { width, height, rgb, alpha };
}

export function checkSize(width: number, height: number, limits: ImageLimits, modelId: string): void {
  const size = `${String(width)}x${String(height)}`;
  if (Math.min(width, height) < limits.min_side) {
    throw new EngineError(
      'invalid-image',
      `a ${size} image is too small for ${modelId}: each side needs at least ${String(limits.min_side)} px`,
    );
  }
  if (Math.max(width, height) > limits.max_side || width * height > limits.max_pixels) {
    throw new EngineError(
      'image-too-large',
      `a ${size} image is over ${modelId}'s limit of ${String(limits.max_side)} px a side and ` +
        `${(limits.max_pixels / 1e6).toFixed(1)} megapixels; scale it down first`,
    );
  }
}

/** Longest side at most `maxSide`, aspect kept, rounding half up (turbodraft.tools.images.fit_within). */
export function fitWithin(width: number, height: number, maxSide: number): { width: number; height: number } {
  const longest = Math.max(width, height);
  if (longest <= maxSide) return { width, height };
  const k = maxSide / longest;
  return { width: Math.max(1, Math.floor(width * k + 0.5)), height: Math.max(1, Math.floor(height * k + 0.5)) };
}

/** Planar RGB and alpha to interleaved float RGBA [H, W, 4] (alpha 1 where null). */
export function joinFloat(rgb: Float32Array, alpha: Float32Array | null, n: number): Float32Array {
  const out = new Float32Array(4 * n);
  for (let p = 0; p < n; p++) {
    out[p * 4] = rgb[p] ?? 0;
    out[p * 4 + 1] = rgb[n + p] ?? 0;
    out[p * 4 + 2] = rgb[2 * n + p] ?? 0;
    out[p * 4 + 3] = alpha === null ? 1 : (alpha[p] ?? 0);
  }
  return out;
}

/** Floats in [0, 1] to bytes, rounding half up (turbodraft.tools.images.to_uint8). */
export function toBytes(rgba: Float32Array): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(rgba.length);
  for (let i = 0; i < rgba.length; i++) out[i] = Math.floor(Math.min(1, Math.max(0, rgba[i] ?? 0)) * 255 + 0.5);
  return out;
}
