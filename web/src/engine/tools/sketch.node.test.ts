/// <reference types="node" />
/**
 * Sketch-to-image's engine side in Node (wasm): a sketch rendering through `sketchInitImage` into the engine's
 * img2img at a low strength, against diffusers (fixtures/tools/sketch); a newer stroke supersedes a stale draft.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { Engine, type EngineRequest } from '../engine';
import { EngineError } from '../errors';
import { parseNpy, psnr } from '../testing/npy';
import { decodePngRgba } from '../testing/png';
import sketchMeta from '../../../../fixtures/tools/sketch/cases.json';
import { sketchInitImage } from './sketch';

const FIXTURES = path.resolve(import.meta.dirname, '../../../../fixtures');
const SKETCH = path.join(FIXTURES, 'tools', 'sketch');
const npy = (name: string): Float32Array => parseNpy(readFileSync(path.join(SKETCH, name))).data;

const engine = new Engine({
  ort,
  gpu: undefined,
  readerFor: (variantId) => (file) => {
    const full = path.join(FIXTURES, variantId, file);
    return Promise.resolve(existsSync(full) ? new Uint8Array(readFileSync(full)) : null);
  },
});

type SketchCase = (typeof sketchMeta.cases)[number];

function request(c: SketchCase): EngineRequest {
  const initImage = sketchInitImage(decodePngRgba(readFileSync(path.join(SKETCH, c.sketch))), c.width, c.height);
  return { prompt: c.prompt, seed: c.seed, steps: c.steps, width: c.width, height: c.height, model: c.model, initImage, strength: c.strength, returnPixels: true };
}

describe('sketch to image', () => {
  it.each(sketchMeta.cases.map((c) => [c.id, c] as const))('%s: the init image equals the one torch made', (_, c) => {
    const got = request(c).initImage ?? new Float32Array();
    const want = npy(c.init_image);
    expect(got.length).toBe(want.length);
    let worst = 0;
    got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - (want[i] ?? NaN)))));
    expect(worst).toBeLessThan(2e-6);
  });

  it.each(sketchMeta.cases.map((c) => [c.id, c] as const))('%s: low-strength img2img matches diffusers', async (_, c) => {
    const result = await engine.generate(request(c));
    expect(result.mode).toBe('img2img');
    expect(result.timesteps).toEqual(c.unet_timesteps);
    expect(psnr(result.pixels ?? new Float32Array(), npy(c.image))).toBeGreaterThanOrEqual(40);
  });

  it('a newer stroke supersedes the stale draft, which returns nothing', async () => {
    const [first, second] = sketchMeta.cases;
    if (first === undefined || second === undefined) throw new Error('two sketch cases expected');
    const stale = engine.generate(request(first));
    const fresh = engine.generate(request(second));
    await expect(stale).rejects.toSatisfy((e: unknown) => e instanceof EngineError && e.code === 'superseded');
    expect((await fresh).seed).toBe(second.seed);
  });
});
