/**
 * SD-Turbo from three ONNX graphs on onnxruntime-web, as diffusers' StableDiffusionPipeline (txt2img) and
 * StableDiffusionImg2ImgPipeline (img2img) compute it with guidance 0: the browser twin of
 * turbodraft/pipeline/pipeline.py, one stage a block.
 *
 * A pure module: it takes an `ort` instance and a file reader, and touches no DOM API, so the same code runs
 * in the Web Worker and in Node (a benchmark through Dawn). Sessions are created once in `load` and reused.
 */
import type * as OrtModule from 'onnxruntime-web';
import { checkOutput, checkSumOfSquares } from './checks';
import { EngineError } from './errors';
import { EULER_STEP_OUTPUTS, eulerStepGraph, sumOfSquaresGraph } from './graphs';
import { OwnedGpuTensor, resolveDims } from './gpuTensors';
import type { BackendName, Family, ModelVariant } from './manifest';
import { randn } from './noise';
import type { ValidRequest } from './request';
import * as recipe from './scheduler';
import { PromptTokenizer } from './tokenizer';

export type Ort = typeof OrtModule;
type Tensor = OrtModule.Tensor;
type Session = OrtModule.InferenceSession;

/** Reads one file of a model by its path in the web layout; null when the model does not have it. */
export type ModelReader = (path: string) => Promise<Uint8Array | null>;

export type Stage = 'load' | 'tokenize' | 'text_encoder' | 'vae_encoder' | 'unet' | 'vae_decoder' | 'png';

export interface Progress {
  readonly stage: Stage;
  /** 1-based UNet step, for the unet stage. */
  readonly step?: number;
  readonly steps?: number;
}

export interface RunHooks {
  onProgress?: (progress: Progress) => void;
  /**
   * Awaited between stages; rejects (e.g. with EngineError 'superseded') to stop the run there. A wasm run can
   * finish without ever yielding to the event loop, so this is also where cancel and newer requests get heard.
   */
  checkpoint?: () => Promise<void>;
}

export interface PipelineOutput {
  /** HWC [height, width, 3] in [0, 1]. */
  readonly pixels: Float32Array;
  readonly width: number;
  readonly height: number;
  readonly mode: 'txt2img' | 'img2img';
  readonly timesteps: number[];
  readonly promptTokens: number;
  readonly truncated: boolean;
  /** Milliseconds: tokenize, text_encoder, [vae_encoder], unet (all steps), vae_decoder, total. */
  readonly timings: Record<string, number>;
}

export interface LoadOptions {
  readonly ort: Ort;
  readonly read: ModelReader;
  readonly variant: ModelVariant;
  readonly family: Family;
  readonly backend: BackendName;
  /** The image size the sessions are made for; required where `fixesImageSize(backend)`. */
  readonly size?: ImageSize;
  /** Called after each session is created, so an owner can count them. */
  readonly onSessionCreated?: (graph: string) => void;
  /** Overrides `defaultPerf(backend)` (benchmarks measure each route this way). */
  readonly perf?: Partial<PerfOptions>;
}

/** How a pipeline moves data between its graphs; docs/performance.md has what each route measured. */
export interface PerfOptions {
  /**
   * WebGPU backends: the text embedding, the noise prediction, the latents and the decoder input stay on the GPU;
   * the Euler step and the stage guards run as tiny graphs (graphs.ts). Only the image and one float per guard
   * come back to the CPU, once, at the end.
   */
  readonly gpuLatents: boolean;
  /**
   * With gpuLatents on webgpu-f16 (sessions made for one size): ORT graph capture of the text encoder, UNet and
   * decoder, which then replay recorded GPU commands instead of dispatching kernel by kernel from JavaScript.
   */
  readonly graphCapture: boolean;
}

/**
 * The engine's routes per backend. Graph capture stays off: ORT keeps the web layout's int64 timestep and
 * int32->int64 id casts on the CPU, so the text encoder and UNet of the published graphs cannot be captured and
 * each would be created twice (docs/performance.md).
 */
export function defaultPerf(backend: BackendName): PerfOptions {
  return { gpuLatents: backend !== 'wasm', graphCapture: false };
}

/** The routes `perf` asks for that `backend` can take (no GPU routes on wasm, no capture with free sizes). */
export function effectivePerf(backend: BackendName, perf?: Partial<PerfOptions>): PerfOptions {
  const asked = { ...defaultPerf(backend), ...perf };
  const gpuLatents = asked.gpuLatents && backend !== 'wasm';
  return { gpuLatents, graphCapture: gpuLatents && asked.graphCapture && fixesImageSize(backend) };
}

const GRAPHS = {
  textEncoder: 'text_encoder/model.onnx',
  unet: 'unet/model.onnx',
  vaeDecoder: 'vae_decoder/model.onnx',
  vaeEncoder: 'vae_encoder/model.onnx',
  tokenizer: 'tokenizer.json',
} as const;

/**
 * Symbolic batch dimensions of the public SD-Turbo exports and our fixtures; fixing them to 1 lets ORT plan
 * memory and pick kernels once.
 */
const BATCH_OVERRIDES: Readonly<Record<string, number>> = {
  batch: 1,
  batch_size: 1,
  unet_sample_batch: 1,
  unet_hidden_batch: 1,
  unet_time_batch: 1,
  text_encoder_batch: 1,
  vae_decoder_batch: 1,
  vae_encoder_batch: 1,
};

/** The image size a session is made for, where its backend fixes every dimension. */
export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

/**
 * Whether sessions on `backend` are made for one image size. On webgpu-f16 every free dimension is fixed
 * (docs/performance.md): it is what makes JSEP's NHWC layout compute legacy exports correctly (trap 1 in
 * browser-diffusion.md was a shape-derived Mul that fixed dims fold into a constant) and it cut the full
 * pipeline from 533 to 367 ms on an H100. fp32 WebGPU and wasm keep free sizes: one set of sessions serves
 * every size there, and NCHW is what the oracle tests prove on SwiftShader.
 */
export function fixesImageSize(backend: BackendName): boolean {
  return backend === 'webgpu-f16';
}

/**
 * Every free dimension of our exports and of the ORT SD-Turbo demo's models (their names), for one size.
 * Names a graph lacks are ignored by ORT.
 */
export function sizeOverrides(size: ImageSize, family: Family): Record<string, number> {
  const down = family.vae.downscale;
  const latentH = size.height / down;
  const latentW = size.width / down;
  return {
    ...BATCH_OVERRIDES,
    height: latentH,
    width: latentW,
    image_height: size.height,
    image_width: size.width,
    // The demo's (schmuell/sd-turbo-ort-web) names.
    height_latent: latentH,
    width_latent: latentW,
    num_channels: family.vae.latent_channels,
    num_channels_latent: family.vae.latent_channels,
    sequence_length: family.tokenizer.max_length,
  };
}

type SessionOptions = OrtModule.InferenceSession.SessionOptions;

/** The engine's session options for one graph: what the GPU benchmark measures is exactly this. */
export function sessionOptions(
  backend: BackendName,
  graph: string,
  variant: ModelVariant,
  family: Family,
  size: ImageSize | undefined,
  keepOnGpu: readonly string[] | 'all' = [],
  graphCapture = false,
): SessionOptions {
  const base = { graphOptimizationLevel: 'all', freeDimensionOverrides: BATCH_OVERRIDES } as const;
  if (backend === 'wasm') return { ...base, executionProviders: ['wasm'] };
  const onGpu = {
    preferredOutputLocation:
      keepOnGpu === 'all' ? ('gpu-buffer' as const) : Object.fromEntries(keepOnGpu.map((name) => [name, 'gpu-buffer' as const])),
    ...(graphCapture ? { enableGraphCapture: true } : {}),
  };
  if (backend === 'webgpu') {
    // JSEP's default NHWC computed a wrong UNet for legacy exports with free sizes (trap 1); NCHW matched
    // onnxruntime in Python to 1e-6. In fp16 NCHW cannot be used: JSEP 1.30's NCHW InstanceNormalization
    // shader does not compile in f16 and the UNet returns zeros.
    return { ...base, ...onGpu, executionProviders: [{ name: 'webgpu', preferredLayout: 'NCHW' }] };
  }
  if (size === undefined) throw new EngineError('model-load-failed', `${backend} sessions are made for one image size`, 'load');
  const options: SessionOptions = {
    ...base,
    ...onGpu,
    executionProviders: [{ name: 'webgpu', preferredLayout: 'NHWC' }],
    freeDimensionOverrides: sizeOverrides(size, family),
  };
  // ORT fuses Conv+Relu into FusedConv, which JSEP 1.30 implements for float32 only: TAESD's fp16 decoder
  // (ReLUs after convolutions) then fails at session creation. SD's own graphs use SiLU, which is not fused.
  if (graph === GRAPHS.vaeDecoder && variant.decoder === 'taesd') {
    return { ...options, extra: { optimization: { disable_specified_optimizers: 'ConvActivationFusion' } } };
  }
  return options;
}

const now = (): number => performance.now();

/** The tiny graphs and fixed buffers of the GPU-resident route (PerfOptions.gpuLatents). */
interface GpuStages {
  /** graphs.ts eulerStepGraph, every output on the GPU. */
  readonly step: Session;
  /**
   * graphs.ts sumOfSquaresGraph per guarded tensor: `*Now` read their output on the CPU at once (the read also
   * drains ORT's queued GPU work), the others leave it on the GPU until the end of the run. With graph capture
   * each guard has its own session, always fed the same buffer: JSEP (1.30) refuses a new external buffer in a
   * session run right after a captured one.
   */
  readonly guards: { readonly embedding: Session; readonly noise: Session; readonly noiseNow: Session; readonly imageNow: Session };
  /** With graph capture: the fixed buffers every model graph reads and writes (a captured run is bound to them). */
  readonly captured: CapturedIo | null;
}

interface CapturedIo {
  readonly inputIds: OwnedGpuTensor;
  readonly embedding: OwnedGpuTensor;
  readonly sample: OwnedGpuTensor;
  readonly timestep: OwnedGpuTensor;
  readonly noisePred: OwnedGpuTensor;
  readonly vaeInput: OwnedGpuTensor;
  readonly image: OwnedGpuTensor;
  readonly all: readonly OwnedGpuTensor[];
}

type Timed = <T>(stage: string, work: () => Promise<T> | T) => Promise<T>;

export class SdTurboPipeline {
  private vaeEncoder: Session | null | undefined;
  private released = false;
  readonly variant: ModelVariant;
  readonly family: Family;
  readonly backend: BackendName;
  readonly perf: PerfOptions;

  private constructor(
    private readonly options: LoadOptions,
    readonly tokenizer: PromptTokenizer,
    private readonly textEncoder: Session,
    private readonly unet: Session,
    private readonly vaeDecoder: Session,
    private readonly gpu: GpuStages | null,
    /** The graphs that run captured (PerfOptions.graphCapture): those whose every node ORT put on the GPU. */
    readonly capturedGraphs: readonly string[],
    /** Milliseconds spent fetching files and creating sessions. */
    readonly loadMs: number,
  ) {
    this.variant = options.variant;
    this.family = options.family;
    this.backend = options.backend;
    this.perf = { gpuLatents: gpu !== null, graphCapture: capturedGraphs.length > 0 };
  }

  static async load(options: LoadOptions): Promise<SdTurboPipeline> {
    const started = now();
    const perf = effectivePerf(options.backend, options.perf);
    const tokenizerText = new TextDecoder().decode(await requiredFile(options, GRAPHS.tokenizer));
    let tokenizerJson: object;
    try {
      tokenizerJson = JSON.parse(tokenizerText) as object;
    } catch (error) {
      throw EngineError.wrap(error, 'model-load-failed', `${options.variant.id}/tokenizer.json is not JSON`, 'load');
    }
    const tokenizer = new PromptTokenizer(tokenizerJson, options.family.tokenizer);
    // One after another: creating the large graphs in parallel multiplies peak memory.
    // The text embedding stays on the GPU: the UNet reads it at every step.
    const capture = perf.graphCapture;
    const created: Session[] = [];
    const captured: string[] = [];
    /** With graph capture asked for, a graph that cannot be captured (a node ORT keeps on the CPU) runs uncaptured. */
    const create = async (path: string, keepOnGpu: readonly string[] | 'all'): Promise<Session> => {
      let session: Session | null = null;
      if (capture) {
        try {
          session = await createSession(options, path, 'all', true);
          captured.push(path.split('/')[0] ?? path);
        } catch {
          session = null;
        }
      }
      session ??= await createSession(options, path, keepOnGpu);
      created.push(session);
      return session;
    };
    try {
      const textEncoder = await create(GRAPHS.textEncoder, ['last_hidden_state']);
      const unet = await create(GRAPHS.unet, perf.gpuLatents ? 'all' : []);
      const vaeDecoder = await create(GRAPHS.vaeDecoder, []);
      const gpu = perf.gpuLatents ? await gpuStages(options, capture, [textEncoder, unet, vaeDecoder], created) : null;
      return new SdTurboPipeline(options, tokenizer, textEncoder, unet, vaeDecoder, gpu, captured, now() - started);
    } catch (error) {
      await Promise.all(created.map(async (session) => session.release().catch(() => undefined)));
      throw error;
    }
  }

  /**
   * Whether this model can do img2img. The VAE encoder is optional in the web layout, so it is fetched and its
   * session created on the first img2img request (as the Python twin does), then kept.
   */
  async loadVaeEncoder(): Promise<boolean> {
    if (this.vaeEncoder === undefined) {
      const bytes = await readFile(this.options.read, GRAPHS.vaeEncoder);
      this.vaeEncoder = bytes === null ? null : await createSession(this.options, GRAPHS.vaeEncoder, [], false, bytes);
    }
    return this.vaeEncoder !== null;
  }

  async generate(request: ValidRequest, hooks: RunHooks = {}): Promise<PipelineOutput> {
    if (this.released) throw new EngineError('disposed', 'this pipeline was disposed');
    const { ort, size } = this.options;
    if (fixesImageSize(this.backend) && (size?.width !== request.width || size.height !== request.height)) {
      // The engine keys pipelines by size on such backends; a mismatch here is a caller bug, not bad input.
      throw new EngineError(
        'inference-failed',
        `this pipeline was made for ${String(size?.width)}x${String(size?.height)}, not ${String(request.width)}x${String(request.height)}`,
      );
    }
    const family = this.family;
    const vae = family.vae;
    const checkpoint = hooks.checkpoint ?? ((): Promise<void> => Promise.resolve());
    const progress = hooks.onProgress ?? ((): void => undefined);
    const timings: Record<string, number> = {};
    const timed: Timed = async (stage, work) => {
      const start = now();
      try {
        return await work();
      } finally {
        timings[stage] = (timings[stage] ?? 0) + now() - start;
      }
    };
    const started = now();
    const toDispose: Tensor[] = [];
    try {
      // 1. Prompt -> token ids -> text embedding (no negative prompt: SD-Turbo runs without guidance).
      await checkpoint();
      progress({ stage: 'tokenize' });
      const tokens = await timed('tokenize', () => this.tokenizer.encode(request.prompt));
      await checkpoint();
      progress({ stage: 'text_encoder' });
      const maxLength = family.tokenizer.max_length;
      const captured = this.gpu?.captured ?? null;
      const embedding = await timed('text_encoder', async () => {
        if (captured === null) {
          return this.run(this.textEncoder, 'text_encoder', { input_ids: new ort.Tensor('int32', tokens.inputIds, [1, maxLength]) });
        }
        captured.inputIds.write(tokens.inputIds);
        return this.run(this.textEncoder, 'text_encoder', { input_ids: captured.inputIds.tensor }, captured.embedding);
      });
      if (captured === null) toDispose.push(embedding);
      /** GPU guards read at the end of the run: [stage, sum of squares on the GPU]. */
      const guards: [string, Tensor][] = [];
      if (this.gpu === null) checkOutput('text_encoder', await tensorData(embedding));
      else guards.push(['text_encoder', await this.sumOfSquares(this.gpu.guards.embedding, embedding, toDispose)]);

      // 2. Timesteps and sigmas.
      let schedule = recipe.eulerSchedule(family.scheduler, request.steps);

      // 3. Initial latents: pure noise (txt2img) or the noised init image (img2img).
      const shape = [1, vae.latent_channels, request.height / vae.downscale, request.width / vae.downscale];
      const noise = request.latents ?? randn(request.seed, shape);
      let latents: Float32Array;
      if (request.initImage === undefined) {
        const sigma = recipe.initNoiseSigma(schedule, family.scheduler);
        latents = noise.map((x) => Math.fround(x * sigma));
      } else {
        const encoder = (await this.loadVaeEncoder()) ? this.vaeEncoder : null;
        if (encoder === null || encoder === undefined || request.strength === undefined) {
          throw new EngineError('unsupported-by-model', `model ${this.variant.id} has no VAE encoder, so it cannot do img2img`);
        }
        schedule = recipe.tail(schedule, recipe.img2imgStart(request.steps, request.strength));
        await checkpoint();
        progress({ stage: 'vae_encoder' });
        const input = recipe.pixelsToVaeInput(request.initImage, request.height, request.width);
        const mean = await timed('vae_encoder', async () => {
          const out = await this.run(encoder, 'vae_encoder', {
            sample: new ort.Tensor('float32', input, [1, 3, request.height, request.width]),
          });
          return tensorData(out);
        });
        checkOutput('vae_encoder', mean);
        latents = recipe.addNoise(recipe.scaleLatents(mean, vae.scaling_factor), noise, schedule.sigmas[0] ?? 0);
      }

      // 4-5. Denoising loop (scale input, predict noise, Euler step) and decoding.
      const run = { request, schedule, shape, latents, embedding, timed, checkpoint, progress, toDispose };
      const decoded =
        this.gpu === null ? await this.denoiseAndDecodeOnCpu(run) : await this.denoiseAndDecodeOnGpu(this.gpu, run, guards);
      checkOutput('vae_decoder', decoded);
      for (const [stage, tensor] of guards) checkSumOfSquares(stage, (await tensorData(tensor))[0] ?? NaN);
      const pixels = recipe.decoderOutputToPixels(decoded, request.height, request.width);
      checkOutput('image', pixels);
      timings.total = now() - started;
      return {
        pixels,
        width: request.width,
        height: request.height,
        mode: request.initImage === undefined ? 'txt2img' : 'img2img',
        timesteps: Array.from(schedule.timesteps, (t) => Math.round(t)),
        promptTokens: tokens.promptTokens,
        truncated: tokens.truncated,
        timings,
      };
    } finally {
      for (const tensor of toDispose) tensor.dispose();
    }
  }

  /** Latents on the CPU: each UNet output is read back, stepped in scheduler.ts and uploaded again. */
  /** The web layout's UNet takes an int64 timestep; a graph rewritten for graph capture takes float32. */
  private timestep(value: number): Float32Array | BigInt64Array {
    const meta = this.unet.inputMetadata.find((m) => m.name === 'timestep');
    const float = meta?.isTensor === true && meta.type === 'float32';
    return float ? Float32Array.of(Math.round(value)) : recipe.unetTimestep(value);
  }

  private timestepTensor(value: number): Tensor {
    const data = this.timestep(value);
    return data instanceof Float32Array ? new this.options.ort.Tensor('float32', data, [1]) : new this.options.ort.Tensor('int64', data, [1]);
  }

  private async denoiseAndDecodeOnCpu(run: DenoiseRun): Promise<Float32Array> {
    const { ort } = this.options;
    const { schedule, shape, embedding, timed, checkpoint, progress } = run;
    let latents = run.latents;
    const steps = schedule.timesteps.length;
    for (let i = 0; i < steps; i++) {
      await checkpoint();
      progress({ stage: 'unet', step: i + 1, steps });
      const sigma = schedule.sigmas[i] ?? 0;
      const sigmaNext = schedule.sigmas[i + 1] ?? 0;
      const stage = `unet step ${String(i + 1)}`;
      const noisePred = await timed('unet', async () => {
        const out = await this.run(this.unet, stage, {
          sample: new ort.Tensor('float32', recipe.scaleModelInput(latents, sigma), shape),
          timestep: this.timestepTensor(schedule.timesteps[i] ?? 0),
          encoder_hidden_states: embedding,
        });
        return tensorData(out);
      });
      checkOutput(stage, noisePred);
      latents = recipe.eulerStep(latents, noisePred, sigma, sigmaNext);
      checkOutput(`scheduler step ${String(i + 1)}`, latents);
    }
    await checkpoint();
    progress({ stage: 'vae_decoder' });
    return timed('vae_decoder', async () => {
      const out = await this.run(this.vaeDecoder, 'vae_decoder', {
        latent_sample: new ort.Tensor('float32', recipe.latentsToVae(latents, this.family.vae.scaling_factor), shape),
      });
      return tensorData(out);
    });
  }

  /**
   * Latents on the GPU (PerfOptions.gpuLatents): the Euler step is a graph, each stage's guard a sum of squares
   * read at the end; with graph capture every model graph runs on the fixed buffers of `gpu.captured`.
   */
  private async denoiseAndDecodeOnGpu(gpu: GpuStages, run: DenoiseRun, guards: [string, Tensor][]): Promise<Float32Array> {
    const { ort } = this.options;
    const { schedule, shape, embedding, timed, checkpoint, progress, toDispose } = run;
    const { captured } = gpu;
    const scalar = (x: number): Tensor => new ort.Tensor('float32', Float32Array.of(x), [1]);
    const scaling = scalar(this.family.vae.scaling_factor);
    const firstInput = recipe.scaleModelInput(run.latents, schedule.sigmas[0] ?? 0);
    let latents: Tensor = new ort.Tensor('float32', run.latents, shape);
    let modelInput: Tensor;
    if (captured === null) modelInput = new ort.Tensor('float32', firstInput, shape);
    else {
      captured.sample.write(firstInput);
      modelInput = captured.sample.tensor;
    }
    let vaeInput: Tensor | undefined;
    const steps = schedule.timesteps.length;
    for (let i = 0; i < steps; i++) {
      await checkpoint();
      progress({ stage: 'unet', step: i + 1, steps });
      const sigma = schedule.sigmas[i] ?? 0;
      const sigmaNext = schedule.sigmas[i + 1] ?? 0;
      const stage = `unet step ${String(i + 1)}`;
      const last = i === steps - 1;
      await timed('unet', async () => {
        let timestep: Tensor;
        if (captured === null) timestep = this.timestepTensor(schedule.timesteps[i] ?? 0);
        else {
          captured.timestep.write(this.timestep(schedule.timesteps[i] ?? 0));
          timestep = captured.timestep.tensor;
        }
        const noisePred = await this.run(
          this.unet,
          stage,
          { sample: modelInput, timestep, encoder_hidden_states: embedding },
          captured?.noisePred,
        );
        if (captured === null) toDispose.push(noisePred);
        if (last) guards.push([stage, await this.sumOfSquares(gpu.guards.noise, noisePred, toDispose)]);
        // Read now before another step: it also drains ORT's queued work, so the next timestep write is safe.
        else checkSumOfSquares(stage, (await tensorData(await this.sumOfSquares(gpu.guards.noiseNow, noisePred, toDispose)))[0] ?? NaN);
        const denom = Math.fround(Math.sqrt(Math.fround(Math.fround(sigmaNext * sigmaNext) + 1)));
        const fetches =
          captured === null ? undefined : { next_latents: null, model_input: captured.sample.tensor, vae_input: captured.vaeInput.tensor };
        const out = await this.runAll(
          gpu.step,
          `scheduler step ${String(i + 1)}`,
          { latents, noise_pred: noisePred, dt: scalar(Math.fround(sigmaNext - sigma)), model_denom: scalar(denom), scaling_factor: scaling },
          fetches,
        );
        const [next, input, vae] = EULER_STEP_OUTPUTS.map((name) => out[name]);
        if (next === undefined || input === undefined || vae === undefined) {
          throw new EngineError('inference-failed', `scheduler step ${String(i + 1)} returned no output`);
        }
        toDispose.push(next);
        if (captured === null) toDispose.push(input, vae);
        latents = next;
        modelInput = input;
        vaeInput = vae;
      });
    }
    await checkpoint();
    progress({ stage: 'vae_decoder' });
    return timed('vae_decoder', async () => {
      if (vaeInput === undefined) throw new EngineError('inference-failed', 'no denoising step ran');
      const out = await this.run(this.vaeDecoder, 'vae_decoder', { latent_sample: vaeInput }, captured?.image);
      if (captured === null) return tensorData(out);
      // The guard's read drains ORT's queued work, so the image buffer holds this run's image when read.
      await tensorData(await this.sumOfSquares(gpu.guards.imageNow, out, toDispose));
      return new Float32Array(await captured.image.read());
    });
  }

  private async sumOfSquares(session: Session, x: Tensor, toDispose: Tensor[]): Promise<Tensor> {
    const out = await this.run(session, 'guard', { x });
    toDispose.push(out);
    return out;
  }

  /** Frees the sessions (and with them their GPU buffers). Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const gpu = this.gpu;
    const sessions = new Set([this.textEncoder, this.unet, this.vaeDecoder, this.vaeEncoder ?? undefined, gpu?.step, ...Object.values(gpu?.guards ?? {})]);
    await Promise.all([...sessions].map(async (s) => s?.release()));
    for (const buffer of gpu?.captured?.all ?? []) buffer.destroy();
  }

  /** One graph's first output; onnxruntime failures become typed errors naming the stage. */
  private async run(session: Session, stage: string, feeds: Record<string, Tensor>, into?: OwnedGpuTensor): Promise<Tensor> {
    const name = session.outputNames[0];
    const results = await this.runAll(session, stage, feeds, into === undefined || name === undefined ? undefined : { [name]: into.tensor });
    const output = name === undefined ? undefined : results[name];
    if (output === undefined) throw new EngineError('inference-failed', `${stage} returned no output`, stage);
    return output;
  }

  private async runAll(
    session: Session,
    stage: string,
    feeds: Record<string, Tensor>,
    fetches?: Record<string, Tensor | null>,
  ): Promise<OrtModule.InferenceSession.OnnxValueMapType> {
    try {
      return fetches === undefined ? await session.run(feeds) : await session.run(feeds, fetches);
    } catch (error) {
      throw EngineError.wrap(error, 'inference-failed', `${stage} failed`, stage);
    }
  }
}

interface DenoiseRun {
  readonly request: ValidRequest;
  readonly schedule: recipe.Schedule;
  readonly shape: number[];
  readonly latents: Float32Array;
  readonly embedding: Tensor;
  readonly timed: Timed;
  readonly checkpoint: () => Promise<void>;
  readonly progress: (progress: Progress) => void;
  readonly toDispose: Tensor[];
}

/** The step and guard sessions of the GPU route and, with graph capture, the buffers the model graphs bind. */
async function gpuStages(options: LoadOptions, capture: boolean, models: Session[], created: Session[]): Promise<GpuStages> {
  const { ort } = options;
  const small = async (model: Uint8Array, keepOnGpu: boolean): Promise<Session> => {
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [{ name: 'webgpu' }],
        ...(keepOnGpu ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
      });
      created.push(session);
      return session;
    } catch (error) {
      throw EngineError.wrap(error, 'model-load-failed', 'cannot create the GPU scheduler graphs', 'load');
    }
  };
  const step = await small(eulerStepGraph(), true);
  const guard = await small(sumOfSquaresGraph(), true);
  const guardNow = await small(sumOfSquaresGraph(), false);
  if (!capture) return { step, guards: { embedding: guard, noise: guard, noiseNow: guardNow, imageNow: guardNow }, captured: null };
  const guards = { embedding: guard, noise: await small(sumOfSquaresGraph(), true), noiseNow: guardNow, imageNow: await small(sumOfSquaresGraph(), false) };
  const [textEncoder, unet, decoder] = models;
  const device = await ort.env.webgpu.device;
  const { size, family } = options;
  if (size === undefined || textEncoder === undefined || unet === undefined || decoder === undefined) {
    throw new EngineError('model-load-failed', 'graph capture needs sessions made for one image size', 'load');
  }
  const overrides = sizeOverrides(size, family);
  const dimsOf = (session: Session, output: boolean, fallback: number[]): number[] => {
    const meta = output ? session.outputMetadata[0] : session.inputMetadata[0];
    const dims = meta?.isTensor === true ? resolveDims(meta.shape, overrides) : null;
    return dims ?? fallback;
  };
  const latent = [1, family.vae.latent_channels, size.height / family.vae.downscale, size.width / family.vae.downscale];
  const owned = (type: 'float32' | 'int32' | 'int64', dims: number[]): OwnedGpuTensor => new OwnedGpuTensor(ort, device, type, dims);
  const embeddingDims = dimsOf(textEncoder, true, []);
  if (embeddingDims.length === 0) throw new EngineError('model-load-failed', 'the text embedding has free dimensions', 'load');
  const io = {
    inputIds: owned('int32', [1, family.tokenizer.max_length]),
    embedding: owned('float32', embeddingDims),
    sample: owned('float32', latent),
    timestep: owned(timestepType(unet), [1]),
    noisePred: owned('float32', latent),
    vaeInput: owned('float32', latent),
    image: owned('float32', dimsOf(decoder, true, [1, 3, size.height, size.width])),
  };
  return { step, guards, captured: { ...io, all: Object.values(io) } };
}

function timestepType(unet: Session): 'float32' | 'int64' {
  const meta = unet.inputMetadata.find((m) => m.name === 'timestep');
  return meta?.isTensor === true && meta.type === 'float32' ? 'float32' : 'int64';
}

async function requiredFile(options: LoadOptions, path: string): Promise<Uint8Array> {
  const bytes = await readFile(options.read, path);
  if (bytes === null) throw new EngineError('model-load-failed', `model ${options.variant.id} lacks ${path}`, 'load');
  return bytes;
}

async function createSession(
  options: LoadOptions,
  path: string,
  keepOnGpu: readonly string[] | 'all' = [],
  graphCapture = false,
  bytes?: Uint8Array,
): Promise<Session> {
  const { ort, variant, backend } = options;
  const model = bytes ?? (await requiredFile(options, path));
  try {
    const session = await ort.InferenceSession.create(
      model,
      sessionOptions(backend, path, variant, options.family, options.size, keepOnGpu, graphCapture),
    );
    options.onSessionCreated?.(path);
    return session;
  } catch (error) {
    throw EngineError.wrap(error, 'model-load-failed', `cannot create a ${backend} session for ${variant.id}/${path}`, 'load');
  }
}

async function readFile(read: ModelReader, path: string): Promise<Uint8Array | null> {
  try {
    return await read(path);
  } catch (error) {
    throw EngineError.wrap(error, 'model-load-failed', `cannot read ${path}`, 'load');
  }
}

/** A float32 tensor's values on the CPU (downloads a GPU buffer; the tensor itself stays where it is). */
async function tensorData(tensor: Tensor): Promise<Float32Array> {
  if (tensor.type !== 'float32') throw new EngineError('inference-failed', `expected a float32 output, got ${tensor.type}`);
  const data = tensor.location === 'cpu' ? tensor.data : await tensor.getData();
  return data as Float32Array;
}
