/**
 * The three tools as pure functions over a graph runner (mirrors of turbodraft/tools/upscale.py, matte.py,
 * style.py): no ORT, no DOM, so Node tests and the worker run the same code. `checkpoint` is awaited between
 * tiles and stages: that is where cancel, a newer request or a lost device stop a run, and nothing partial
 * is ever returned.
 */
import { EngineError } from '../errors';
import { checkSize, fitWithin, type Planes, type RgbaImage, split } from './images';
import type { ToolModel } from './manifest';
import { resizePlanes } from './resize';
import { plan } from './tiling';

/** Runs the graph on [1, 3, h, w] float32 (already scaled to its input range); batch 0 of its output. */
export type RunGraph = (input: Float32Array, height: number, width: number) => Promise<GraphOutput>;

export interface GraphOutput {
  readonly data: Float32Array;
  /** [channels, height, width] of batch 0. */
  readonly dims: readonly [number, number, number];
}

export interface ToolProgress {
  readonly stage: 'load' | 'tile' | 'run' | 'png';
  readonly tile?: number;
  readonly tiles?: number;
}

export interface OpHooks {
  readonly checkpoint?: () => Promise<void>;
  readonly onProgress?: (progress: ToolProgress) => void;
}

/** Float RGBA [H, W, 4] in [0, 1] as planes: RGB [3, H, W] and alpha [H, W] or null (opaque). */
export type OpResult = Planes & { readonly tiles: number };

function params<T>(value: T | null | undefined, model: ToolModel, what: string): T {
  if (value === null || value === undefined) {
    throw new EngineError('invalid-option', `${model.id} is a ${model.tool} model, not ${what}`);
  }
  return value;
}

/** Repeats the last row/column until both sides divide by `multiple` (the output is cropped back). */
export function padToMultiple(rgb: Float32Array, height: number, width: number, multiple: number): Planes {
  const ph = height + ((multiple - (height % multiple)) % multiple);
  const pw = width + ((multiple - (width % multiple)) % multiple);
  if (ph === height && pw === width) return { width, height, rgb, alpha: null };
  const out = new Float32Array(3 * ph * pw);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < ph; y++) {
      const sy = Math.min(y, height - 1);
      for (let x = 0; x < pw; x++) out[(c * ph + y) * pw + x] = rgb[(c * height + sy) * width + Math.min(x, width - 1)] ?? 0;
    }
  }
  return { width: pw, height: ph, rgb: out, alpha: null };
}

function crop(rgb: Float32Array, height: number, width: number, y0: number, x0: number, h: number, w: number): Float32Array {
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      const from = (c * height + y0 + y) * width + x0;
      out.set(rgb.subarray(from, from + w), (c * h + y) * w);
    }
  }
  return out;
}

function scaled(values: Float32Array, factor: number): Float32Array {
  if (factor === 1) return values;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (values[i] ?? 0) * factor;
  return out;
}

function expectDims(model: ToolModel, out: GraphOutput, dims: readonly [number, number, number], what: string): void {
  if (out.dims[0] !== dims[0] || out.dims[1] !== dims[1] || out.dims[2] !== dims[2]) {
    throw new EngineError('bad-output', `${model.id} turned ${what} into [${out.dims.join(', ')}], expected [${dims.join(', ')}]`, 'run');
  }
  for (const v of out.data) {
    if (!Number.isFinite(v)) throw new EngineError('bad-output', `${model.id} returned NaN or Inf`, 'run');
  }
}

export interface UpscaleOptions {
  readonly tile?: number;
  readonly overlap?: number;
}

export async function upscale(
  model: ToolModel,
  image: RgbaImage,
  run: RunGraph,
  hooks: OpHooks = {},
  options: UpscaleOptions = {},
): Promise<OpResult> {
  const p = params(model.upscale, model, 'an upscaler');
  const input = split(image);
  checkSize(input.width, input.height, model.limits, model.id);
  const tile = options.tile ?? p.tile;
  const overlap = options.overlap ?? p.overlap;
  if (!Number.isInteger(tile) || !Number.isInteger(overlap) || tile % p.multiple_of !== 0 || overlap < 0 || overlap >= tile) {
    throw new EngineError('invalid-option', `tile ${String(tile)} / overlap ${String(overlap)} do not suit ${model.id}`);
  }
  const s = p.scale;
  const padded = padToMultiple(input.rgb, input.height, input.width, p.multiple_of);
  const H = padded.height * s;
  const W = padded.width * s;
  const acc = new Float32Array(3 * H * W);
  const total = new Float32Array(H * W);
  const tiles = plan(padded.height, padded.width, tile, overlap, s, p.multiple_of);
  for (const [index, t] of tiles.entries()) {
    await hooks.checkpoint?.();
    hooks.onProgress?.({ stage: 'tile', tile: index + 1, tiles: tiles.length });
    const nchw = scaled(crop(padded.rgb, padded.height, padded.width, t.y, t.x, t.height, t.width), model.io.input_scale);
    const out = await run(nchw, t.height, t.width);
    const th = t.height * s;
    const tw = t.width * s;
    expectDims(model, out, [3, th, tw], `a ${String(t.width)}x${String(t.height)} tile`);
    const k = 1 / model.io.output_scale;
    for (let y = 0; y < th; y++) {
      const wy = t.wy[y] ?? 0;
      const row = (t.y * s + y) * W + t.x * s;
      for (let x = 0; x < tw; x++) {
        const w = wy * (t.wx[x] ?? 0);
        if (w === 0) continue;
        total[row + x] = (total[row + x] ?? 0) + w;
        for (let c = 0; c < 3; c++) {
          const at = c * H * W + row + x;
          acc[at] = (acc[at] ?? 0) + (out.data[(c * th + y) * tw + x] ?? 0) * k * w;
        }
      }
    }
  }
  await hooks.checkpoint?.();
  const outH = input.height * s;
  const outW = input.width * s;
  const rgb = new Float32Array(3 * outH * outW);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const v = (acc[c * H * W + y * W + x] ?? 0) / (total[y * W + x] ?? 1);
        rgb[(c * outH + y) * outW + x] = Math.min(1, Math.max(0, v));
      }
    }
  }
  let alpha: Float32Array | null = null;
  if (input.alpha !== null) {
    alpha = resizePlanes(input.alpha, 1, input.height, input.width, outH, outW).map((v) => Math.min(1, Math.max(0, v)));
  }
  return { width: outW, height: outH, rgb, alpha, tiles: tiles.length };
}

/** Below this range the matte is treated as constant (no min-max stretch). */
const FLAT_RANGE = 1e-6;

export async function removeBackground(model: ToolModel, image: RgbaImage, run: RunGraph, hooks: OpHooks = {}): Promise<OpResult> {
  const p = params(model.matte, model, 'a background remover');
  const input = split(image);
  checkSize(input.width, input.height, model.limits, model.id);
  const r = p.resolution;
  const x = resizePlanes(input.rgb, 3, input.height, input.width, r, r);
  let peak = 1;
  if (p.divide_by_max) {
    peak = 1e-6;
    for (const v of x) peak = Math.max(peak, v);
  }
  for (let c = 0; c < 3; c++) {
    const mean = p.mean[c] ?? 0;
    const std = p.std[c] ?? 1;
    for (let i = c * r * r; i < (c + 1) * r * r; i++) {
      // float32 steps as numpy's: x / max, then (x - mean) / std
      const v = p.divide_by_max ? Math.fround((x[i] ?? 0) / peak) : (x[i] ?? 0);
      x[i] = Math.fround(Math.fround(v - Math.fround(mean)) / Math.fround(std)) * model.io.input_scale;
    }
  }
  await hooks.checkpoint?.();
  hooks.onProgress?.({ stage: 'run' });
  const out = await run(x, r, r);
  if (out.dims[1] !== r || out.dims[2] !== r) {
    throw new EngineError('bad-output', `${model.id} returned a [${out.dims.join(', ')}] map for a ${String(r)}px input`, 'run');
  }
  const matte = new Float32Array(r * r);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < r * r; i++) {
    const v = (out.data[i] ?? NaN) / model.io.output_scale;
    if (!Number.isFinite(v)) throw new EngineError('bad-output', `${model.id} returned NaN or Inf`, 'run');
    matte[i] = v;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (p.minmax && hi - lo >= FLAT_RANGE) {
    for (let i = 0; i < matte.length; i++) matte[i] = ((matte[i] ?? 0) - lo) / (hi - lo);
  }
  await hooks.checkpoint?.();
  const alpha = resizePlanes(matte, 1, r, r, input.height, input.width);
  for (let i = 0; i < alpha.length; i++) {
    const v = Math.min(1, Math.max(0, alpha[i] ?? 0));
    alpha[i] = input.alpha === null ? v : v * (input.alpha[i] ?? 0);
  }
  return { width: input.width, height: input.height, rgb: input.rgb, alpha, tiles: 1 };
}

export function checkStrength(strength: unknown): number {
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength < 0 || strength > 1) {
    throw new EngineError('invalid-option', `strength must be a number in [0, 1], got ${typeof strength === 'number' ? String(strength) : typeof strength}`);
  }
  return strength;
}

/** content + strength * (styled - content) per value (turbodraft.tools.style.blend): the live slider. */
export function blend(content: Float32Array, styled: Float32Array, strength: number): Float32Array {
  const out = new Float32Array(content.length);
  const s = Math.fround(strength);
  for (let i = 0; i < content.length; i++) {
    const c = content[i] ?? 0;
    out[i] = Math.fround(c + Math.fround(s * Math.fround((styled[i] ?? 0) - c)));
  }
  return out;
}

export interface StyleOutput extends OpResult {
  /** The full-strength style (planar RGB), so a slider can re-blend without running the model again. */
  readonly styled: Float32Array;
  readonly content: Float32Array;
}

export async function stylize(
  model: ToolModel,
  image: RgbaImage,
  run: RunGraph,
  strength: number,
  hooks: OpHooks = {},
): Promise<StyleOutput> {
  const p = params(model.style, model, 'a style');
  const s = checkStrength(strength);
  const input = split(image);
  checkSize(input.width, input.height, model.limits, model.id);
  const padded = padToMultiple(input.rgb, input.height, input.width, p.multiple_of);
  await hooks.checkpoint?.();
  hooks.onProgress?.({ stage: 'run' });
  const out = await run(scaled(padded.rgb, model.io.input_scale), padded.height, padded.width);
  expectDims(model, out, [3, padded.height, padded.width], `a ${String(padded.width)}x${String(padded.height)} image`);
  const styled = new Float32Array(3 * input.height * input.width);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < input.height; y++) {
      for (let x = 0; x < input.width; x++) {
        const v = (out.data[(c * padded.height + y) * padded.width + x] ?? 0) / model.io.output_scale;
        styled[(c * input.height + y) * input.width + x] = Math.min(1, Math.max(0, v));
      }
    }
  }
  return {
    width: input.width,
    height: input.height,
    rgb: blend(input.rgb, styled, s),
    alpha: input.alpha,
    tiles: 1,
    styled,
    content: input.rgb,
  };
}

/** An image scaled down (antialiased) so its longest side is at most `maxSide`: for live previews. */
export function shrinkTo(image: RgbaImage, maxSide: number): RgbaImage {
  const size = fitWithin(image.width, image.height, maxSide);
  if (size.width === image.width && size.height === image.height) return image;
  const n = image.width * image.height;
  const planes = new Float32Array(4 * n);
  for (let p = 0; p < n; p++) for (let c = 0; c < 4; c++) planes[c * n + p] = (image.data[p * 4 + c] ?? 0) / 255;
  const small = resizePlanes(planes, 4, image.height, image.width, size.height, size.width);
  const m = size.width * size.height;
  const data = new Uint8ClampedArray(4 * m);
  for (let p = 0; p < m; p++) {
    for (let c = 0; c < 4; c++) data[p * 4 + c] = Math.floor(Math.min(1, Math.max(0, small[c * m + p] ?? 0)) * 255 + 0.5);
  }
  return { width: size.width, height: size.height, data };
}
