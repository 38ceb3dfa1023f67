/**
 * The browser engine's own pipeline (web/src/engine/pipeline.ts, not a copy) on onnxruntime-web in Node: on Dawn's
 * WebGPU on the GPU machine, or on wasm here for a dry run. One process measures every configuration, so all of
 * them share the card, the driver and the ORT build.
 *
 *   node bench.mjs --models /tmp/sdt --ort-dir .gpu-carry/ort --out /tmp/engine.json [--dawn .gpu-carry/dawn-shim.mjs]
 *
 * A configuration is a manifest variant, an ORT bundle, a model directory per graph, the pipeline's performance
 * routes (`perf`, pipeline.ts PerfOptions: what the engine itself switches) and, only for the demo's settings, a
 * replacement of the session options. Each configuration records, besides its timings, what its session creation
 * and first run spent in Dawn (shader modules, compute pipelines, buffer uploads), and with `profile` the GPU time
 * of every kernel of one run (ORT's timestamp queries), summed per operator.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as OrtModule from 'onnxruntime-web';
import { familyOf, findVariant, type BackendName } from '../../../web/src/engine/manifest';
import { DEFAULT_MODEL } from '../../../web/src/engine/engine';
import { SdTurboPipeline, type Ort, type PerfOptions } from '../../../web/src/engine/pipeline';
import { validateRequest } from '../../../web/src/engine/request';

type SessionOptions = OrtModule.InferenceSession.SessionOptions;
type Bundle = 'jsep' | 'jsep-next' | 'native' | 'wasm';

interface Config {
  readonly name: string;
  readonly what: string;
  /** jsep = ort.min.mjs (what the engine's worker bundles), jsep-next = the same from --ort-next-dir,
   *  native = ort.webgpu.min.mjs (ORT's C++ WebGPU EP compiled to wasm). */
  readonly bundle: Bundle;
  /** Model directory under --models for each graph. */
  readonly graphs: { readonly text_encoder: string; readonly unet: string; readonly vae_decoder: string };
  /** Replaces the options the pipeline asks for (the demo's settings only). */
  readonly tune?: (asked: SessionOptions) => SessionOptions;
  /** Manifest variant (default: sd-turbo-fp16). */
  readonly variant?: string;
  /** The pipeline's routes; 'best' = the fastest of the route configurations measured before it in this run. */
  readonly perf?: Partial<PerfOptions> | 'best';
  /** Also time every kernel of one extra run (ORT's WebGPU profiling). */
  readonly profile?: boolean;
}

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]?.replace(/^--/, '') ?? '', process.argv[i + 1] ?? '');
const MODELS = args.get('models') ?? '/tmp/sdt';
const ORT_DIR = path.resolve(args.get('ort-dir') ?? '.gpu-carry/ort');
const ORT_NEXT_DIR = path.resolve(args.get('ort-next-dir') ?? `${ORT_DIR}-next`);
const OUT = args.get('out') ?? '/tmp/engine.json';
const DAWN = args.get('dawn');
const RUNS = Number(args.get('runs') ?? '5');
const SIZE = Number(args.get('size') ?? '512');
const THREADS = Number(args.get('threads') ?? '2');
/** A dry run's models (the fixtures' tiny ones) fix their own sizes; `--tiny 1` picks them. */
const TINY = args.get('tiny') === '1';
const ONLY = args.get('only')?.split(',');
/** Seconds to leave for the rest of the device run: configurations that would start later are skipped. */
const DEADLINE = Date.now() + Number(args.get('budget-s') ?? '1e6') * 1000;

const latent = SIZE / 8;
const FIXED_DIMS = { batch: 1, height: latent, width: latent, image_height: SIZE, image_width: SIZE };

/** ONNX Runtime's public SD-Turbo demo (onnxruntime-inference-examples js/sd-turbo), its session options. */
function demoOptions(asked: SessionOptions): SessionOptions {
  const webgpu = asked.executionProviders?.some((ep) => (typeof ep === 'string' ? ep : ep.name) === 'webgpu') ?? false;
  return {
    executionProviders: webgpu ? ['webgpu'] : ['wasm'],
    enableMemPattern: false,
    enableCpuMemArena: false,
    extra: {
      session: {
        disable_prepacking: '1',
        use_device_allocator_for_initializers: '1',
        use_ort_model_bytes_directly: '1',
        use_ort_model_bytes_for_initializers: '1',
      },
    },
    ...(webgpu ? { preferredOutputLocation: { last_hidden_state: 'gpu-buffer' } } : {}),
    freeDimensionOverrides: FIXED_DIMS,
  };
}

const PLAIN = { text_encoder: 'plain', unet: 'plain', vae_decoder: 'plain' } as const;
const TAESD = { ...PLAIN, vae_decoder: 'taesd' } as const;
const CPU_LATENTS = { gpuLatents: false, graphCapture: false } as const;
const GPU_LATENTS = { gpuLatents: true, graphCapture: false } as const;
const CAPTURE = { gpuLatents: true, graphCapture: true } as const;
const unetFrom = (dir: string): Config['graphs'] => ({ ...TAESD, unet: dir });

/** The route configurations, in the order a run measures them (the `best` ones pick among those before them). */
const GPU_CONFIGS: Config[] = [
  { name: 'cpu-latents', what: `${DEFAULT_MODEL}, latents through the CPU between graphs (the engine before this work)`, bundle: 'jsep', graphs: TAESD, variant: DEFAULT_MODEL, perf: CPU_LATENTS, profile: true },
  { name: 'gpu-latents', what: `${DEFAULT_MODEL}, latents, embedding and scheduler step on the GPU (IO binding)`, bundle: 'jsep', graphs: TAESD, variant: DEFAULT_MODEL, perf: GPU_LATENTS, profile: true },
  { name: 'graph-capture', what: `${DEFAULT_MODEL}, GPU latents + ORT graph capture of the three graphs`, bundle: 'jsep', graphs: TAESD, variant: DEFAULT_MODEL, perf: CAPTURE },
  { name: 'capture-graphs', what: `${DEFAULT_MODEL}, GPU latents + capture, text encoder and UNet rewritten so every node runs on WebGPU (graph_variants.py capture/)`, bundle: 'jsep', graphs: { text_encoder: 'capture', unet: 'capture', vae_decoder: 'taesd' }, variant: DEFAULT_MODEL, perf: CAPTURE, profile: true },
  { name: 'capture-graphs-full', what: 'sd-turbo-fp16 (full VAE decoder), capture/ graphs, GPU latents + capture', bundle: 'jsep', graphs: { text_encoder: 'capture', unet: 'capture', vae_decoder: 'plain' }, variant: 'sd-turbo-fp16', perf: CAPTURE },
  { name: 'engine', what: `the engine's default as shipped: ${DEFAULT_MODEL} with the engine's own routes (pipeline.ts defaultPerf)`, bundle: 'jsep', graphs: TAESD, variant: DEFAULT_MODEL },
  { name: 'cpu-latents-full', what: 'sd-turbo-fp16 (full VAE decoder), latents through the CPU (the engine before)', bundle: 'jsep', graphs: PLAIN, variant: 'sd-turbo-fp16', perf: CPU_LATENTS },
  { name: 'engine-full', what: "sd-turbo-fp16 (full VAE decoder) with the engine's own routes", bundle: 'jsep', graphs: PLAIN, variant: 'sd-turbo-fp16', profile: true },
  { name: 'opt-unet-all', what: "UNet through ORT's transformer optimizer (attention, GroupNorm, BiasSplitGelu, BiasAdd fusions), best routes", bundle: 'jsep', graphs: unetFrom('opt-all'), variant: DEFAULT_MODEL, perf: 'best' },
  { name: 'opt-unet-nogn', what: 'the same without the GroupNorm fusion (JSEP has no GroupNorm kernel)', bundle: 'jsep', graphs: unetFrom('opt-nogn'), variant: DEFAULT_MODEL, perf: 'best' },
  { name: 'opt-unet-noattn', what: 'the optimizer with BiasSplitGelu, BiasAdd, SkipLayerNorm only (no attention, no GroupNorm)', bundle: 'jsep', graphs: unetFrom('opt-noattn'), variant: DEFAULT_MODEL, perf: 'best' },
  { name: 'ort-next', what: `${DEFAULT_MODEL}, best routes, onnxruntime-web from --ort-next-dir (JSEP)`, bundle: 'jsep-next', graphs: TAESD, variant: DEFAULT_MODEL, perf: 'best' },
  { name: 'native-ep', what: `${DEFAULT_MODEL}, best routes, ORT's native WebGPU EP (ort.webgpu.min.mjs)`, bundle: 'native', graphs: TAESD, variant: DEFAULT_MODEL, perf: 'best' },
  { name: 'native-ep-cpu-latents', what: `${DEFAULT_MODEL}, native WebGPU EP, latents through the CPU`, bundle: 'native', graphs: TAESD, variant: DEFAULT_MODEL, perf: CPU_LATENTS },
  { name: 'demo', what: "ORT SD-Turbo demo's session options (JSEP, NHWC, fixed dims), plain graphs", bundle: 'jsep', graphs: PLAIN, tune: demoOptions, perf: CPU_LATENTS },
];

/** A dry run on this machine: the same pipeline on wasm, or on Dawn over a software adapter, on tiny models. */
const TINY_CONFIGS: Config[] = [
  { name: 'wasm-engine', what: 'engine on wasm (dry run)', bundle: 'wasm', graphs: PLAIN, variant: 'tiny-sd-turbo' },
  { name: 'cpu-latents', what: 'tiny fp32, webgpu, latents through the CPU', bundle: 'jsep', graphs: PLAIN, variant: 'tiny-sd-turbo', perf: CPU_LATENTS, profile: true },
  { name: 'gpu-latents', what: 'tiny fp32, webgpu, latents on the GPU', bundle: 'jsep', graphs: PLAIN, variant: 'tiny-sd-turbo', perf: GPU_LATENTS },
  { name: 'graph-capture', what: 'tiny fp32 as webgpu-f16 sessions (fixed sizes), GPU latents + capture', bundle: 'jsep', graphs: PLAIN, variant: 'tiny-sd-turbo', perf: CAPTURE },
  { name: 'capture-graphs', what: 'tiny fp32, capture/ graphs, GPU latents + capture', bundle: 'jsep', graphs: { text_encoder: 'capture', unet: 'capture', vae_decoder: 'plain' }, variant: 'tiny-sd-turbo', perf: CAPTURE },
  { name: 'native-ep', what: 'tiny fp32, native WebGPU EP, best routes', bundle: 'native', graphs: PLAIN, variant: 'tiny-sd-turbo', perf: 'best' },
];

const BUNDLES = { jsep: 'ort.min.mjs', 'jsep-next': 'ort.min.mjs', native: 'ort.webgpu.min.mjs', wasm: 'ort.wasm.min.mjs' } as const;
const loaded = new Map<Bundle, Ort>();

async function ortFor(bundle: Bundle): Promise<Ort> {
  let ort = loaded.get(bundle);
  if (ort === undefined) {
    const dir = bundle === 'jsep-next' ? ORT_NEXT_DIR : ORT_DIR;
    ort = (await import(pathToFileURL(path.join(dir, BUNDLES[bundle])).href)) as Ort;
    ort.env.wasm.wasmPaths = `${dir}/`;
    ort.env.wasm.numThreads = bundle === 'wasm' ? THREADS : 1;
    ort.env.logLevel = 'error';
    loaded.set(bundle, ort);
  }
  return ort;
}

// ------------------------------------------------------------------------------------------ Dawn counters

interface Counters {
  shader_modules: number;
  shader_module_ms: number;
  pipelines: number;
  pipeline_ms: number;
  write_buffer_mb: number;
  write_buffer_ms: number;
  buffers: number;
  buffer_mb: number;
}
const counters: Counters = { shader_modules: 0, shader_module_ms: 0, pipelines: 0, pipeline_ms: 0, write_buffer_mb: 0, write_buffer_ms: 0, buffers: 0, buffer_mb: 0 };

/** Counts and times what session creation and first runs spend in Dawn: shaders, pipelines, uploads. */
function instrumentDawn(): void {
  const g = globalThis as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>;
  const wrap = (cls: string, method: string, count: (self: unknown, a: unknown[], ms: number) => void): void => {
    const proto = g[cls]?.prototype;
    const original = proto?.[method];
    if (proto === undefined || typeof original !== 'function') return;
    proto[method] = function (this: unknown, ...a: unknown[]): unknown {
      const t0 = performance.now();
      const out = (original as (...x: unknown[]) => unknown).apply(this, a);
      if (out instanceof Promise) return out.finally(() => count(this, a, performance.now() - t0));
      count(this, a, performance.now() - t0);
      return out;
    };
  };
  wrap('GPUDevice', 'createShaderModule', (_s, _a, ms) => { counters.shader_modules++; counters.shader_module_ms += ms; });
  wrap('GPUDevice', 'createComputePipeline', (_s, _a, ms) => { counters.pipelines++; counters.pipeline_ms += ms; });
  wrap('GPUDevice', 'createComputePipelineAsync', (_s, _a, ms) => { counters.pipelines++; counters.pipeline_ms += ms; });
  wrap('GPUDevice', 'createBuffer', (_s, a, _ms) => { counters.buffers++; counters.buffer_mb += Number((a[0] as { size?: number }).size ?? 0) / 2 ** 20; });
  wrap('GPUQueue', 'writeBuffer', (_s, a, ms) => {
    const data = a[2] as ArrayBufferView | ArrayBuffer;
    const size = a[4] as number | undefined;
    const unit = ArrayBuffer.isView(data) ? ((data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1) : 1;
    counters.write_buffer_mb += (size === undefined ? data.byteLength : size * unit) / 2 ** 20;
    counters.write_buffer_ms += ms;
  });
}

const snapshot = (): Counters => ({ ...counters });
function since(before: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(counters) as (keyof Counters)[]) out[k] = Math.round((counters[k] - before[k]) * 10) / 10;
  return out;
}

// ------------------------------------------------------------------------------------------ measuring

/** `ort` with InferenceSession.create timed per graph and (for the demo) its options replaced. */
function tunedOrt(ort: Ort, tune: Config['tune'], created: { options: SessionOptions; ms: number }[]): Ort {
  const create = async (model: Uint8Array, options?: SessionOptions): Promise<OrtModule.InferenceSession> => {
    const final = tune === undefined ? (options ?? {}) : tune(options ?? {});
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(model, final);
    created.push({ options: final, ms: Math.round(performance.now() - t0) });
    return session;
  };
  return { ...ort, InferenceSession: { ...ort.InferenceSession, create } } as unknown as Ort;
}

let readMs = 0;
function reader(graphs: Config['graphs']): (file: string) => Promise<Uint8Array | null> {
  return (file) => {
    const t0 = performance.now();
    const graph = file.split('/')[0] as keyof Config['graphs'];
    const dir = file === 'tokenizer.json' ? 'plain' : graphs[graph];
    const full = path.join(MODELS, dir, file);
    const bytes = existsSync(full) ? new Uint8Array(readFileSync(full)) : null;
    readMs += performance.now() - t0;
    return Promise.resolve(bytes);
  };
}

function stats(pixels: Float32Array): { finite: boolean; min: number; max: number; mean: number; std: number } {
  let min = Infinity, max = -Infinity, sum = 0, sq = 0, finite = true;
  for (const v of pixels) {
    if (!Number.isFinite(v)) finite = false;
    min = Math.min(min, v); max = Math.max(max, v); sum += v; sq += v * v;
  }
  const mean = sum / pixels.length;
  return { finite, min, max, mean, std: Math.sqrt(Math.max(0, sq / pixels.length - mean * mean)) };
}

function readReference(name: string): Float32Array | null {
  const file = path.join(MODELS, `${name}.f32`);
  if (!existsSync(file)) return null;
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};
const round = (x: number): number => Math.round(x * 10) / 10;
const roundAll = (t: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, round(v)]));

interface KernelRecord { kernelType: string; programName: string; startTime: bigint | number; endTime: bigint | number; inputsMetadata?: { dims: number[] }[] }

/** One extra run with ORT's WebGPU profiling on: GPU milliseconds per operator type, and the slowest kernels. */
async function profileRun(ort: Ort, run: () => Promise<unknown>): Promise<Record<string, unknown>> {
  const records: KernelRecord[] = [];
  const webgpu = ort.env.webgpu as unknown as { profiling?: { mode: string; ondata?: (d: KernelRecord) => void } };
  webgpu.profiling = { mode: 'default', ondata: (d) => records.push(d) };
  const t0 = performance.now();
  await run();
  const wallMs = performance.now() - t0;
  webgpu.profiling = { mode: 'off' };
  await new Promise((resolve) => setTimeout(resolve, 500)); // timestamp reads resolve asynchronously
  const byOp = new Map<string, { count: number; ms: number }>();
  const kernels: { op: string; program: string; ms: number; shapes: string }[] = [];
  let total = 0;
  for (const r of records) {
    const ms = Number(BigInt(r.endTime) - BigInt(r.startTime)) / 1e6;
    total += ms;
    const entry = byOp.get(r.kernelType) ?? { count: 0, ms: 0 };
    entry.count++;
    entry.ms += ms;
    byOp.set(r.kernelType, entry);
    kernels.push({ op: r.kernelType, program: r.programName, ms, shapes: (r.inputsMetadata ?? []).map((m) => m.dims.join('x')).join(' ') });
  }
  kernels.sort((a, b) => b.ms - a.ms);
  return {
    wall_ms_profiled_run: round(wallMs),
    kernels: records.length,
    gpu_kernel_ms: round(total),
    by_op: Object.fromEntries([...byOp].sort((a, b) => b[1].ms - a[1].ms).map(([op, v]) => [op, { count: v.count, ms: round(v.ms) }])),
    slowest: kernels.slice(0, 25).map((k) => ({ ...k, ms: Math.round(k.ms * 100) / 100 })),
  };
}

let bestPerf: { perf: Partial<PerfOptions>; total: number; from: string } | null = null;

async function measure(config: Config, reference: Float32Array | null): Promise<Record<string, unknown>> {
  const ort = await ortFor(config.bundle);
  const variant = findVariant(config.variant ?? (TINY ? 'tiny-sd-turbo' : 'sd-turbo-fp16'));
  const family = familyOf(variant);
  const backend: BackendName = config.bundle === 'wasm' ? 'wasm' : TINY && config.perf !== CAPTURE ? 'webgpu' : 'webgpu-f16';
  const perf = config.perf === 'best' ? (bestPerf?.perf ?? GPU_LATENTS) : config.perf;
  const created: { options: SessionOptions; ms: number }[] = [];
  const size = { width: TINY ? 64 : SIZE, height: TINY ? 64 : SIZE };
  const startedAt = Date.now();
  readMs = 0;
  const beforeLoad = snapshot();
  const t0 = performance.now();
  const pipeline = await SdTurboPipeline.load({
    ort: tunedOrt(ort, config.tune, created),
    read: reader(config.graphs),
    variant,
    family,
    backend,
    size,
    ...(perf === undefined ? {} : { perf }),
  });
  const loadMs = performance.now() - t0;
  const loadDawn = since(beforeLoad);
  const request = validateRequest(
    { prompt: 'a watercolor fox in a snowy forest', seed: 42, ...size, steps: 1 },
    { variant, family, img2img: false },
  );
  try {
    const beforeFirst = snapshot();
    const f0 = performance.now();
    const first = await pipeline.generate(request);
    const firstWall = performance.now() - f0;
    const firstDawn = since(beforeFirst);
    const warm: Record<string, number>[] = [];
    let last = first;
    for (let i = 0; i < RUNS; i++) {
      last = await pipeline.generate(request);
      warm.push(last.timings);
    }
    const profile = config.profile === true && config.bundle !== 'wasm' ? await profileRun(ort, () => pipeline.generate(request)) : undefined;
    const stages = Object.keys(last.timings);
    const image = stats(last.pixels);
    const native = readReference(config.graphs.vae_decoder.startsWith('taesd') ? 'reference_taesd' : 'reference_vae');
    const psnr = (a: Float32Array | null): number | null => {
      if (a === null || a.length !== last.pixels.length) return null;
      let se = 0;
      for (let i = 0; i < a.length; i++) se += ((a[i] ?? 0) - (last.pixels[i] ?? 0)) ** 2;
      return round(10 * Math.log10(1 / Math.max(se / a.length, 1e-12)));
    };
    const warmMedian = Object.fromEntries(stages.map((s) => [s, round(median(warm.map((t) => t[s] ?? NaN)))]));
    if (config.perf !== 'best' && config.perf !== undefined && config.bundle === 'jsep' && config.tune === undefined &&
        config.graphs.unet === 'plain' && config.graphs.vae_decoder === 'taesd' &&
        (bestPerf === null || (warmMedian.total ?? Infinity) < bestPerf.total)) {
      bestPerf = { perf: config.perf, total: warmMedian.total ?? Infinity, from: config.name };
    }
    return {
      name: config.name,
      what: config.what,
      bundle: BUNDLES[config.bundle],
      variant: variant.id,
      graphs: config.graphs,
      perf: pipeline.perf,
      captured_graphs: pipeline.capturedGraphs,
      perf_from: config.perf === 'best' ? (bestPerf?.from ?? 'gpu-latents (nothing measured before)') : undefined,
      session_options: created.map((c) => c.options),
      session_create_ms: created.map((c) => c.ms),
      cold: {
        load_ms: round(loadMs),
        read_files_ms: round(readMs),
        load_dawn: loadDawn,
        first_run_ms: roundAll(first.timings),
        first_run_wall_ms: round(firstWall),
        first_run_dawn: firstDawn,
        load_plus_first_ms: round(loadMs + firstWall),
      },
      warm_median_ms: warmMedian,
      warm_runs_total_ms: warm.map((t) => round(t.total ?? NaN)),
      profile,
      image: { ...image, psnr_db_vs_native_fp32: psnr(native), psnr_db_vs_previous: psnr(reference) },
      started_at: startedAt,
      ended_at: Date.now(),
      pixels: last.pixels,
    };
  } finally {
    await pipeline.release();
  }
}

async function main(): Promise<void> {
  const meta: Record<string, unknown> = { node: process.version, size: SIZE, runs: RUNS, started_at: Date.now(), argv: process.argv.slice(2) };
  if (DAWN !== undefined) {
    await import(pathToFileURL(path.resolve(DAWN)).href);
    instrumentDawn();
    const adapter = await (navigator as unknown as { gpu: GPU }).gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter === null) throw new Error('no WebGPU adapter from Dawn');
    const { info } = adapter;
    meta.adapter = {
      vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
      shader_f16: adapter.features.has('shader-f16'),
      subgroups: adapter.features.has('subgroups'),
      timestamp_query: adapter.features.has('timestamp-query'),
      max_buffer_size: adapter.limits.maxBufferSize,
      max_storage_buffer_binding_size: adapter.limits.maxStorageBufferBindingSize,
    };
    meta.dawn_flags = process.env.DAWN_FLAGS ?? '';
  }
  const all = TINY ? TINY_CONFIGS : GPU_CONFIGS;
  const configs = (ONLY === undefined ? all : ONLY.map((name) => all.find((c) => c.name === name)))
    .filter((c): c is Config => c !== undefined)
    .filter((c) => DAWN !== undefined || c.bundle === 'wasm');
  const results: Record<string, unknown>[] = [];
  let reference: Float32Array | null = null;
  for (const config of configs) {
    if (Date.now() > DEADLINE) {
      results.push({ name: config.name, what: config.what, error: 'skipped: out of device time' });
      continue;
    }
    console.log(`== ${config.name}: ${config.what}`);
    try {
      const { pixels, ...result } = await measure(config, reference);
      reference = pixels as Float32Array;
      results.push(result);
      const cold = result.cold as Record<string, unknown>;
      console.log(JSON.stringify({ name: result.name, perf: result.perf, load: cold.load_ms, first: cold.first_run_wall_ms, warm: result.warm_median_ms, psnr: (result.image as Record<string, unknown>).psnr_db_vs_native_fp32 }));
    } catch (error) {
      const message = error instanceof Error ? `${error.message}\n${String((error as { cause?: unknown }).cause ?? '')}` : String(error);
      console.log(`!! ${config.name} failed: ${message.slice(0, 600)}`);
      results.push({ name: config.name, what: config.what, error: message.slice(0, 2000) });
    }
    const ort = loaded.get(config.bundle);
    meta.ort_versions = { ...(meta.ort_versions as object | undefined), [config.bundle]: ort?.env.versions };
    meta.best_perf = bestPerf;
    writeFileSync(OUT, JSON.stringify({ meta, results }, null, 1)); // after each config: a timeout keeps the rest
  }
  process.exit(0);
}

await main();
