/**
 * The browser engine's own pipeline (web/src/engine/pipeline.ts, not a copy) on onnxruntime-web in Node: on Dawn's
 * WebGPU on the GPU machine, or on wasm here for a dry run. One process measures every configuration, so all of
 * them share the card, the driver and the ORT build.
 *
 *   node bench.mjs --models /tmp/sdt --ort-dir .gpu-carry/ort --out /tmp/engine.json [--dawn .gpu-carry/dawn-shim.mjs]
 *
 * A configuration is a manifest variant, an ORT bundle, a model directory per graph, and (only for the demo's
 * settings and the exploratory ones) session options. The `engine*` configurations run the engine's OWN session
 * options (pipeline.ts sessionOptions(), made for the requested size) with no override; the others hand the
 * pipeline an `ort` whose InferenceSession.create replaces or amends them: the pipeline code itself runs unchanged.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as OrtModule from 'onnxruntime-web';
import { familyOf, findVariant, type BackendName } from '../../../web/src/engine/manifest';
import { DEFAULT_MODEL } from '../../../web/src/engine/engine';
import { SdTurboPipeline, type Ort } from '../../../web/src/engine/pipeline';
import { validateRequest } from '../../../web/src/engine/request';

type SessionOptions = OrtModule.InferenceSession.SessionOptions;

interface Config {
  readonly name: string;
  readonly what: string;
  /** 'jsep' = ort.min.mjs (what the engine's worker bundles), 'native' = ort.webgpu.min.mjs (C++ WebGPU EP). */
  readonly bundle: 'jsep' | 'native' | 'wasm';
  /** Model directory under --models for each graph. */
  readonly graphs: { readonly text_encoder: string; readonly unet: string; readonly vae_decoder: string };
  /** Replaces (demo) or amends (exploratory ones) the options the pipeline asks for; none for `engine*`. */
  readonly tune?: (asked: SessionOptions) => SessionOptions;
  /** Manifest variant (default: --variant, sd-turbo-fp16). */
  readonly variant?: string;
}

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]?.replace(/^--/, '') ?? '', process.argv[i + 1] ?? '');
const MODELS = args.get('models') ?? '/tmp/sdt';
const ORT_DIR = path.resolve(args.get('ort-dir') ?? '.gpu-carry/ort');
const OUT = args.get('out') ?? '/tmp/engine.json';
const DAWN = args.get('dawn');
const RUNS = Number(args.get('runs') ?? '5');
const SIZE = Number(args.get('size') ?? '512');
/** What a plain run measures: the demo's settings, the engine's default, the engine with the full decoder. */
const ONLY = (args.get('only') ?? 'demo,engine,engine-full').split(',');
const VARIANT = args.get('variant') ?? 'sd-turbo-fp16';

const latent = SIZE / 8;
/** Every free dimension of our exports fixed for one image size (the engine fixes only the batch). */
const FIXED_DIMS = { batch: 1, height: latent, width: latent, image_height: SIZE, image_width: SIZE };

/** ONNX Runtime's public SD-Turbo demo (onnxruntime-inference-examples js/sd-turbo), its session options. */
function demoOptions(asked: SessionOptions): SessionOptions {
  const webgpu = asked.executionProviders?.some((ep) => (typeof ep === 'string' ? ep : ep.name) === 'webgpu') ?? false;
  return {
    executionProviders: webgpu ? ['webgpu'] : ['wasm'], // the demo names the EP only: JSEP's default NHWC layout
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
    // The demo keeps only the text embedding on the GPU, as the engine does, and fixes its models' dims for 512.
    ...(webgpu ? { preferredOutputLocation: { last_hidden_state: 'gpu-buffer' } } : {}),
    freeDimensionOverrides: FIXED_DIMS,
  };
}

const fixedDims = (asked: SessionOptions): SessionOptions => ({
  ...asked,
  freeDimensionOverrides: { ...asked.freeDimensionOverrides, ...FIXED_DIMS },
});

const PLAIN = { text_encoder: 'plain', unet: 'plain', vae_decoder: 'plain' } as const;
const MHA = { text_encoder: 'plain', unet: 'mha', vae_decoder: 'mha' } as const;

/** The engine's options (NHWC) with only the batch fixed: sizes free, as the engine had them before. */
const BATCH_ONLY = { batch: 1, batch_size: 1 };
const nhwc = (asked: SessionOptions): SessionOptions => ({ ...asked, freeDimensionOverrides: BATCH_ONLY });
const nhwcFixed = fixedDims;
const TAESD = { ...PLAIN, vae_decoder: 'taesd' } as const;
const TAESD_GATE = { ...PLAIN, vae_decoder: 'taesd-gate' } as const;

const GPU_CONFIGS: Config[] = [
  { name: 'demo', what: "ORT SD-Turbo demo's session options (JSEP, NHWC, fixed dims), plain graphs", bundle: 'jsep', graphs: PLAIN, tune: demoOptions },
  {
    name: 'engine',
    what: `the engine's default: ${DEFAULT_MODEL} with the engine's own session options (NHWC, every dim fixed, TAESD decoder)`,
    bundle: 'jsep',
    graphs: TAESD,
    variant: DEFAULT_MODEL,
  },
  {
    name: 'engine-full',
    what: "sd-turbo-fp16 (SD's VAE decoder) with the engine's own session options (NHWC, every dim fixed)",
    bundle: 'jsep',
    graphs: PLAIN,
    variant: 'sd-turbo-fp16',
  },
  // Exploratory, from the first GPU run (run with --only): they amend the engine's options.
  { name: 'nhwc-free', what: 'engine options with the sizes left free', bundle: 'jsep', graphs: PLAIN, tune: nhwc },
  { name: 'nhwc-fixed-taesd-gate', what: 'TAESD exported with x*(x>0) for ReLU', bundle: 'jsep', graphs: TAESD_GATE, tune: nhwcFixed },
  { name: 'nhwc-fixed-mha', what: 'MultiHeadAttention graphs (UNet, VAE)', bundle: 'jsep', graphs: MHA, tune: nhwcFixed },
  { name: 'native-fixed-mha', what: 'fixed dims + MHA graphs on the native WebGPU EP bundle (ort.webgpu.min.mjs)', bundle: 'native', graphs: MHA, tune: fixedDims },
];

const WASM_CONFIGS: Config[] = [
  { name: 'wasm-demo', what: "demo's options on wasm (dry run)", bundle: 'wasm', graphs: PLAIN, tune: demoOptions },
  { name: 'wasm-engine', what: 'engine on wasm (dry run)', bundle: 'wasm', graphs: TAESD, variant: 'tiny-sd-turbo-taesd' },
  { name: 'wasm-engine-full', what: 'engine, full decoder, on wasm (dry run)', bundle: 'wasm', graphs: PLAIN, variant: 'tiny-sd-turbo' },
];

const BUNDLES = { jsep: 'ort.min.mjs', native: 'ort.webgpu.min.mjs', wasm: 'ort.wasm.min.mjs' } as const;
const loaded = new Map<string, Ort>();

async function ortFor(bundle: Config['bundle']): Promise<Ort> {
  let ort = loaded.get(bundle);
  if (ort === undefined) {
    ort = (await import(pathToFileURL(path.join(ORT_DIR, BUNDLES[bundle])).href)) as Ort;
    ort.env.wasm.wasmPaths = `${ORT_DIR}/`;
    ort.env.wasm.numThreads = bundle === 'wasm' ? 2 : 1;
    ort.env.logLevel = 'error';
    loaded.set(bundle, ort);
  }
  return ort;
}

/** `ort` with InferenceSession.create amended by `tune`; everything else is the real module. */
function tunedOrt(ort: Ort, tune: Config['tune'], created: SessionOptions[]): Ort {
  const create = async (model: Uint8Array, options?: SessionOptions): Promise<OrtModule.InferenceSession> => {
    const final = tune === undefined ? (options ?? {}) : tune(options ?? {});
    created.push(final);
    return ort.InferenceSession.create(model, final);
  };
  return { ...ort, InferenceSession: { ...ort.InferenceSession, create } } as unknown as Ort;
}

function reader(graphs: Config['graphs']): (file: string) => Promise<Uint8Array | null> {
  return (file) => {
    const graph = file.split('/')[0] as keyof Config['graphs'];
    const dir = file === 'tokenizer.json' ? 'plain' : graphs[graph];
    const full = path.join(MODELS, dir, file);
    return Promise.resolve(existsSync(full) ? new Uint8Array(readFileSync(full)) : null);
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

async function measure(config: Config, reference: Float32Array | null): Promise<Record<string, unknown>> {
  const ort = await ortFor(config.bundle);
  const variant = findVariant(config.variant ?? (config.bundle === 'wasm' ? 'tiny-sd-turbo-fp16' : VARIANT));
  const family = familyOf(variant);
  const backend: BackendName = config.bundle === 'wasm' ? 'wasm' : 'webgpu-f16';
  const created: SessionOptions[] = [];
  const startedAt = Date.now();
  const t0 = performance.now();
  const pipeline = await SdTurboPipeline.load({
    ort: tunedOrt(ort, config.tune, created),
    read: reader(config.graphs),
    variant,
    family,
    backend,
    size: { width: SIZE, height: SIZE },
  });
  const loadMs = performance.now() - t0;
  const request = validateRequest(
    { prompt: 'a watercolor fox in a snowy forest', seed: 42, width: SIZE, height: SIZE, steps: 1 },
    { variant, family, img2img: false },
  );
  const first = await pipeline.generate(request);
  const warm: Record<string, number>[] = [];
  let last = first;
  for (let i = 0; i < RUNS; i++) {
    last = await pipeline.generate(request);
    warm.push(last.timings);
  }
  await pipeline.release();
  const stages = Object.keys(last.timings);
  const image = stats(last.pixels);
  const native = readReference(config.graphs.vae_decoder.startsWith('taesd') ? 'reference_taesd' : 'reference_vae');
  const psnr = (a: Float32Array | null): number | null => {
    if (a === null || a.length !== last.pixels.length) return null;
    let se = 0;
    for (let i = 0; i < a.length; i++) se += ((a[i] ?? 0) - (last.pixels[i] ?? 0)) ** 2;
    return round(10 * Math.log10(1 / Math.max(se / a.length, 1e-12)));
  };
  return {
    name: config.name,
    what: config.what,
    bundle: BUNDLES[config.bundle],
    variant: variant.id,
    graphs: config.graphs,
    session_options: created, // text encoder, UNet, decoder: what each session was really created with
    cold: { load_ms: round(loadMs), first_run_ms: Object.fromEntries(Object.entries(first.timings).map(([k, v]) => [k, round(v)])) },
    warm_median_ms: Object.fromEntries(stages.map((s) => [s, round(median(warm.map((t) => t[s] ?? NaN)))])),
    warm_runs_total_ms: warm.map((t) => round(t.total ?? NaN)),
    image: { ...image, psnr_db_vs_native_fp32: psnr(native), psnr_db_vs_previous: psnr(reference) },
    started_at: startedAt,
    ended_at: Date.now(),
    pixels: last.pixels,
  };
}

async function main(): Promise<void> {
  const meta: Record<string, unknown> = { node: process.version, size: SIZE, runs: RUNS, variant: VARIANT, started_at: Date.now() };
  if (DAWN !== undefined) {
    await import(pathToFileURL(path.resolve(DAWN)).href);
    const adapter = await (navigator as unknown as { gpu: GPU }).gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter === null) throw new Error('no WebGPU adapter from Dawn');
    const { info } = adapter;
    meta.adapter = {
      vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
      shader_f16: adapter.features.has('shader-f16'),
      subgroups: adapter.features.has('subgroups'),
      max_buffer_size: adapter.limits.maxBufferSize,
      max_storage_buffer_binding_size: adapter.limits.maxStorageBufferBindingSize,
    };
  }
  // In --only's order: Dawn timings drift within a run, so a second run can reverse the order to show it.
  const configs =
    DAWN === undefined
      ? WASM_CONFIGS
      : ONLY.map((name) => GPU_CONFIGS.find((c) => c.name === name)).filter((c): c is Config => c !== undefined);
  const results: Record<string, unknown>[] = [];
  let reference: Float32Array | null = null;
  for (const config of configs) {
    console.log(`== ${config.name}: ${config.what}`);
    try {
      const { pixels, ...result } = await measure(config, reference);
      reference = pixels as Float32Array;
      results.push(result);
      console.log(JSON.stringify({ name: result.name, cold: result.cold, warm: result.warm_median_ms, image: result.image }));
    } catch (error) {
      const message = error instanceof Error ? `${error.message}\n${String((error as { cause?: unknown }).cause ?? '')}` : String(error);
      console.log(`!! ${config.name} failed: ${message}`);
      results.push({ name: config.name, what: config.what, error: message.slice(0, 2000) });
    }
    const ort = loaded.get(config.bundle);
    meta.ort_versions = { ...(meta.ort_versions as object | undefined), [config.bundle]: ort?.env.versions };
    writeFileSync(OUT, JSON.stringify({ meta, results }, null, 1)); // after each config: a timeout keeps the rest
  }
  process.exit(0);
}

await main();
