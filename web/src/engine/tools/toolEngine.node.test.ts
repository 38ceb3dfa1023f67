/// <reference types="node" />
/**
 * The canvas tools in Node on onnxruntime-web's wasm backend, against the PyTorch references of the tiny
 * fixtures (fixtures/tools): the same ToolEngine the worker runs, sharing an Engine's host.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import { parseNpy, psnr } from '../testing/npy';
import { decodePngRgba } from '../testing/png';
import type { RgbaImage } from './images';
import { ToolEngine, type ToolRequest } from './toolEngine';
import meta from '../../../../fixtures/tools/cases.json';

const FIXTURES = path.resolve(import.meta.dirname, '../../../../fixtures');
const TOOLS = path.join(FIXTURES, 'tools');
const THRESHOLD_DB = 40;

interface ToolCase {
  id: string;
  tool: 'upscale' | 'matte' | 'style';
  model: string;
  input: string;
  options: { strength?: number };
  reference: string;
  width: number;
  height: number;
}
const CASES = meta.cases as ToolCase[];

const image = (name: string): RgbaImage => decodePngRgba(readFileSync(path.join(TOOLS, name)));

function newTools(reads: string[] = []): ToolEngine {
  const engine = new Engine({
    ort,
    gpu: undefined,
    readerFor: (variantId) => (file) => {
      reads.push(`${variantId}/${file}`);
      const full = path.join(FIXTURES, variantId, file);
      return Promise.resolve(existsSync(full) ? new Uint8Array(readFileSync(full)) : null);
    },
  });
  return new ToolEngine({ host: engine.host() });
}

function requestFor(c: ToolCase): ToolRequest {
  return {
    tool: c.tool,
    model: c.model,
    image: image(c.input),
    returnPixels: true,
    ...(c.options.strength === undefined ? {} : { strength: c.options.strength }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<EngineError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('tools on wasm in Node', () => {
  const tools = newTools();

  it.each(CASES.map((c) => [c.id, c] as const))('%s matches PyTorch', async (_, c) => {
    const result = await tools.run(requestFor(c));
    expect([result.width, result.height, result.backend]).toEqual([c.width, c.height, 'wasm']);
    const reference = parseNpy(readFileSync(path.join(TOOLS, c.reference))).data;
    const db = psnr(result.pixels ?? new Float32Array(), reference);
    expect(db).toBeGreaterThanOrEqual(THRESHOLD_DB);
    expect(result.rgba.length).toBe(c.width * c.height * 4);
  });

  it('keeps one session per model: a second run creates none', async () => {
    const c = CASES.find((x) => x.tool === 'matte');
    if (c === undefined) throw new Error('no matte case');
    await tools.run(requestFor(c));
    const before = tools.sessionsCreated;
    await tools.run(requestFor(c));
    expect(tools.sessionsCreated).toBe(before);
  });

  it('tiles as planned and matches the untiled upscale', async () => {
    const request: ToolRequest = { tool: 'upscale', model: 'tiny-realesr-general-x4v3', image: image('photo.png'), returnPixels: true };
    const tiled = await tools.run(request);
    const whole = await tools.run({ ...request, tile: 64, overlap: 0 });
    expect([tiled.tiles, whole.tiles]).toEqual([15, 1]);
    expect(psnr(tiled.pixels ?? new Float32Array(), whole.pixels ?? new Float32Array())).toBeGreaterThanOrEqual(45);
  });

  it('a newer run supersedes the one in flight, which returns nothing', async () => {
    const slow = tools.run({ tool: 'upscale', model: 'tiny-realesrgan-x4plus', image: image('large.png'), tile: 16, overlap: 8 });
    const fast = tools.run({ tool: 'style', model: 'tiny-fast-neural-style', image: image('photo.png') });
    expect((await rejection(slow)).code).toBe('superseded');
    expect((await fast).tool).toBe('style');
  });

  it('cancel stops a run between tiles', async () => {
    const run = tools.run({ tool: 'upscale', model: 'tiny-realesrgan-x4plus', image: image('large.png'), tile: 16, overlap: 8 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    tools.cancel();
    expect((await rejection(run)).code).toBe('cancelled');
  });
});

describe('tool errors', () => {
  it('refuses an image over the limit before reading any model file', async () => {
    const reads: string[] = [];
    const tools = newTools(reads);
    const big = { width: 600, height: 10, data: new Uint8Array(600 * 10 * 4) };
    const error = await rejection(tools.run({ tool: 'matte', model: 'tiny-u2netp', image: big }));
    expect(error.code).toBe('image-too-large');
    expect(error.message).toMatch(/600x10 image is over tiny-u2netp's limit of 512 px/);
    await rejection(tools.run({ tool: 'upscale', model: 'tiny-realesrgan-x4plus', image: { width: 300, height: 10, data: new Uint8Array(12000) } }));
    expect(reads).toEqual([]);
  });

  it('says a model is not downloaded, with its pull command', async () => {
    const tools = newTools();
    const error = await rejection(tools.run({ tool: 'matte', model: 'u2netp', image: image('subject.png') }));
    expect(error.code).toBe('model-not-downloaded');
    expect(error.message).toMatch(/turbodraft models pull u2netp/);
  });

  it.each([
    [{ tool: 'style', model: 'tiny-fast-neural-style', strength: 2 }, 'invalid-option', /strength/],
    [{ tool: 'upscale', model: 'tiny-u2netp' }, 'invalid-option', /matte model, not a upscale/],
    [{ tool: 'style', model: 'no-such-model' }, 'unknown-model', /known: /],
    [{ tool: 'style', model: 'tiny-fast-neural-style', backend: 'webgpu' }, 'backend-unavailable', /WebGPU is unavailable/],
  ] as const)('refuses %o', async (change, code, message) => {
    const tools = newTools();
    const error = await rejection(tools.run({ image: image('photo.png'), ...change }));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it('refuses RGBA data of the wrong length as an invalid image', async () => {
    const tools = newTools();
    const error = await rejection(tools.run({ tool: 'matte', model: 'tiny-u2netp', image: { width: 4, height: 4, data: new Uint8Array(3) } }));
    expect(error.code).toBe('invalid-image');
  });

  it('shrinks a preview to maxSide before styling it', async () => {
    const tools = newTools();
    const result = await tools.run({ tool: 'style', model: 'tiny-fast-neural-style', image: image('photo.png'), maxSide: 32 });
    expect([result.width, result.height]).toEqual([32, 22]);
  });
});
