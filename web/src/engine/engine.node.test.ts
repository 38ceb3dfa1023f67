/// <reference types="node" />
/**
 * The whole engine in Node on onnxruntime-web's wasm backend, against diffusers' images for the tiny fixtures
 * (fixtures/oracle): the same pipeline module the worker runs, with file reads instead of fetch.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineDeps, type EngineRequest } from './engine';
import { EngineError } from './errors';
import { MANIFEST } from './manifest';
import type { ModelReader, Progress } from './pipeline';
import { parseNpy, psnr } from './testing/npy';
import { decodePng } from './testing/png';

const FIXTURES = path.resolve(import.meta.dirname, '../../../fixtures');
const ORACLE = path.join(FIXTURES, 'oracle');
const THRESHOLD_DB = 40;

interface OracleCase {
  id: string;
  mode: 'txt2img' | 'img2img';
  prompt: string;
  seed: number;
  steps: number;
  width: number;
  height: number;
  strength: number | null;
  init_image?: string | null;
  image: string;
}

const CASES = (JSON.parse(readFileSync(path.join(ORACLE, 'cases.json'), 'utf8')) as { cases: OracleCase[] }).cases;
/** diffusers' StableDiffusionPipeline with vae=AutoencoderTiny on the tiny models (turbodraft.models.taesd). */
const TAESD_ORACLE = path.join(FIXTURES, 'oracle-taesd');
const TAESD_CASES = (JSON.parse(readFileSync(path.join(TAESD_ORACLE, 'cases.json'), 'utf8')) as { cases: OracleCase[] })
  .cases;
const npy = (name: string): Float32Array => parseNpy(readFileSync(path.join(ORACLE, name))).data;
const initImage = (name: string): Float32Array =>
  name.endsWith('.npy') ? npy(name) : decodePng(readFileSync(path.join(ORACLE, name))).pixels;

function fixtureReader(directory: string): ModelReader {
  return (file) => {
    const full = path.join(FIXTURES, directory, file);
    return Promise.resolve(existsSync(full) ? new Uint8Array(readFileSync(full)) : null);
  };
}

function newEngine(extra: Partial<EngineDeps> = {}): Engine {
  return new Engine({
    ort,
    gpu: undefined,
    readerFor: fixtureReader,
    defaultModel: 'tiny-sd-turbo',
    ...extra,
  });
}

function requestFor(c: OracleCase): EngineRequest {
  return {
    prompt: c.prompt,
    seed: c.seed,
    steps: c.steps,
    width: c.width,
    height: c.height,
    returnPixels: true,
    ...(c.mode === 'img2img' && c.init_image ? { initImage: initImage(c.init_image), strength: c.strength ?? 1 } : {}),
  };
}

describe('the engine in Node (wasm)', () => {
  let engine: Engine;
  beforeAll(() => {
    ort.env.wasm.numThreads = 1;
    engine = newEngine();
  });

  it.each(CASES.map((c) => [c.id, c] as const))('reproduces oracle case %s from its seed', async (_id, c) => {
    const result = await engine.generate(requestFor(c));
    expect(result.backend).toBe('wasm');
    expect(psnr(result.pixels ?? new Float32Array(), npy(c.image))).toBeGreaterThanOrEqual(THRESHOLD_DB);
  });

  it.each(TAESD_CASES.map((c) => [c.id, c] as const))(
    'reproduces tiny-decoder oracle case %s (AutoencoderTiny) from its seed',
    async (_id, c) => {
      const result = await engine.generate({ ...requestFor(c), model: 'tiny-sd-turbo-taesd' });
      const want = parseNpy(readFileSync(path.join(TAESD_ORACLE, c.image))).data;
      expect(psnr(result.pixels ?? new Float32Array(), want)).toBeGreaterThanOrEqual(THRESHOLD_DB);
    },
  );

  it('creates its sessions once: a second generation adds none', async () => {
    const first = await engine.generate({ prompt: 'a fox', seed: 1 });
    const second = await engine.generate({ prompt: 'a fox', seed: 2 });
    expect(second.sessionsCreated).toBe(first.sessionsCreated);
    expect(second.timings.load).toBeUndefined();
  });

  it('reports progress per stage and per step', async () => {
    const seen: Progress[] = [];
    await engine.generate({ prompt: 'a fox', seed: 3, steps: 2 }, (p) => seen.push(p));
    expect(seen.map((p) => (p.step === undefined ? p.stage : `${p.stage}${String(p.step)}`))).toEqual([
      'load',
      'tokenize',
      'text_encoder',
      'unet1',
      'unet2',
      'vae_decoder',
    ]);
  });

  it('says when the prompt was truncated to 77 tokens', async () => {
    const result = await engine.generate({ prompt: 'cat '.repeat(100), seed: 4 });
    expect([result.truncated, result.promptTokens]).toEqual([true, 100]);
  });

  it('lets a newer request supersede an in-flight one', async () => {
    const first = engine.generate({ prompt: 'first', seed: 5 });
    const second = engine.generate({ prompt: 'second', seed: 6 });
    await expect(first).rejects.toMatchObject({ code: 'superseded' });
    await expect(second).resolves.toMatchObject({ seed: 6 });
  });

  it('stops a cancelled generation with a typed error', async () => {
    const run = engine.generate({ prompt: 'cancel me', seed: 7 });
    engine.cancel();
    await expect(run).rejects.toBeInstanceOf(EngineError);
    await expect(run).rejects.toMatchObject({ code: 'cancelled' });
  });

  it('runs a variant its bundle does not know, from a definition learnt at run time', async () => {
    const tiny = MANIFEST.variants.find((v) => v.id === 'tiny-sd-turbo');
    let asked = 0;
    const own = newEngine({
      readerFor: (id) => fixtureReader(id === 'pulled-later' ? 'tiny-sd-turbo' : id),
      loadManifest: () => {
        asked++;
        return Promise.resolve({ variants: [{ ...tiny, id: 'pulled-later' }], families: {} });
      },
    });
    const c = CASES[0];
    if (c === undefined) throw new Error('no oracle case');
    const result = await own.generate({ ...requestFor(c), model: 'pulled-later' });
    expect(result.model).toBe('pulled-later');
    expect(psnr(result.pixels ?? new Float32Array(), npy(c.image))).toBeGreaterThanOrEqual(THRESHOLD_DB);
    await own.generate({ ...requestFor(c), model: 'pulled-later' });
    expect(asked).toBe(1); // known now: not asked again
    await own.dispose();
  });

  it('names a variant known neither to the bundle nor at run time as unknown', async () => {
    const own = newEngine({ loadManifest: () => Promise.resolve({ variants: [{ id: 'broken' }], families: {} }) });
    await expect(own.generate({ prompt: 'x', seed: 1, model: 'broken' })).rejects.toMatchObject({ code: 'unknown-model' });
    await own.dispose();
  });

  it('refuses work after dispose', async () => {
    const own = newEngine();
    await own.generate({ prompt: 'x', seed: 1 });
    await own.dispose();
    await expect(own.generate({ prompt: 'x', seed: 1 })).rejects.toMatchObject({ code: 'disposed' });
  });
});
