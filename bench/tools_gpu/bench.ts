/**
 * The canvas tools' browser engine (web/src/engine/tools, not a copy) on onnxruntime-web in Node: on Dawn's
 * WebGPU on the GPU machine, or on wasm here for a dry run. Bundle it as bench/gpu does its engine bench:
 *
 *   web/node_modules/.bin/rolldown bench/tools_gpu/bench.ts --format esm --platform node -o .gpu-carry/tools.mjs
 *   node .gpu-carry/tools.mjs --models <dir of <id>/<graph>> --ids realesr-general-x4v3,u2netp,style-mosaic \
 *        --ort-dir .gpu-carry/ort [--dawn .gpu-carry/dawn-shim.mjs] --out /tmp/tools.json
 *
 * The sizes are the issue's goals: upscale 512 -> 2048, background removal of a 1024 image, style at 512
 * (runs per second = frames per second). The native PyTorch fp16 side runs in the same device session
 * (docs/tools.md).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine } from '../../web/src/engine/engine';
import type { Ort } from '../../web/src/engine/pipeline';
import { findToolModel } from '../../web/src/engine/tools/manifest';
import { ToolEngine, type ToolRequest } from '../../web/src/engine/tools/toolEngine';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]?.replace(/^--/, '') ?? '', process.argv[i + 1] ?? '');
const MODELS = path.resolve(args.get('models') ?? 'fixtures');
const IDS = (args.get('ids') ?? 'tiny-realesr-general-x4v3,tiny-u2netp,tiny-fast-neural-style').split(',');
const ORT_DIR = path.resolve(args.get('ort-dir') ?? 'web/node_modules/onnxruntime-web/dist');
const DAWN = args.get('dawn');
const RUNS = Number(args.get('runs') ?? '5');
const OUT = args.get('out') ?? '/tmp/tools.json';
const SIDES: Record<string, number> = {
  upscale: Number(args.get('upscale-side') ?? '512'),
  matte: Number(args.get('matte-side') ?? '1024'),
  style: Number(args.get('style-side') ?? '512'),
};

function image(side: number): { width: number; height: number; data: Uint8ClampedArray } {
  const data = new Uint8ClampedArray(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const p = (y * side + x) * 4;
      data[p] = (x * 255) / side;
      data[p + 1] = (y * 255) / side;
      data[p + 2] = ((x ^ y) & 0xff) / 2;
      data[p + 3] = 255;
    }
  }
  return { width: side, height: side, data };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const meta: Record<string, unknown> = { node: process.version, runs: RUNS, sides: SIDES, started_at: Date.now() };
  let gpu: GPU | undefined;
  if (DAWN !== undefined) {
    await import(pathToFileURL(path.resolve(DAWN)).href);
    gpu = (navigator as unknown as { gpu: GPU }).gpu;
  }
  const ort = (await import(pathToFileURL(path.join(ORT_DIR, gpu === undefined ? 'ort.wasm.min.mjs' : 'ort.min.mjs')).href)) as Ort;
  ort.env.wasm.wasmPaths = `${ORT_DIR}/`;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const engine = new Engine({
    ort,
    gpu,
    readerFor: (id) => (file) => {
      const full = path.join(MODELS, id, file);
      return Promise.resolve(existsSync(full) ? new Uint8Array(readFileSync(full)) : null);
    },
  });
  const tools = new ToolEngine({ host: engine.host() });
  const results: Record<string, unknown>[] = [];
  for (const id of IDS) {
    const model = findToolModel(id);
    const side = SIDES[model.tool] ?? 256;
    const request: ToolRequest = { tool: model.tool, model: id, image: image(side), backend: gpu === undefined ? 'wasm' : 'webgpu' };
    const t0 = performance.now();
    const first = await tools.run(request);
    const cold = performance.now() - t0;
    const warm: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await tools.run(request);
      warm.push(performance.now() - t);
    }
    const row = { id, tool: model.tool, backend: first.backend, input: side, output: [first.width, first.height], tiles: first.tiles,
      cold_ms: cold, warm_median_ms: median(warm), per_s: 1000 / median(warm) };
    console.log(JSON.stringify(row));
    results.push(row);
  }
  writeFileSync(OUT, JSON.stringify({ ...meta, ended_at: Date.now(), results }, null, 2));
}

void main();
