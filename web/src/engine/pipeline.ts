/**
 * SD-Turbo from three ONNX graphs on onnxruntime-web, as diffusers' StableDiffusionPipeline (txt2img) and
 * StableDiffusionImg2ImgPipeline (img2img) compute it with guidance 0: the browser twin of
 * turbodraft/pipeline/pipeline.py, one stage a block.
 *
 * A pure module: it takes an `ort` instance and a file reader, and touches no DOM API, so the same code runs
 * in the Web Worker and in Node (a benchmark through Dawn). Sessions are created once in `load` and reused.
 */
import type * as OrtModule from 'onnxruntime-web';
import { checkOutput } from './checks';
import { EngineError } from './errors';
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
  keepOnGpu: readonly string[] = [],
): SessionOptions {
  const base = { graphOptimizationLevel: 'all', freeDimensionOverrides: BATCH_OVERRIDES } as const;
  if (backend === 'wasm') return { ...base, executionProviders: ['wasm'] };
  const onGpu = { preferredOutputLocation: Object.fromEntries(keepOnGpu.map((name) => [name, 'gpu-buffer' as const])) };
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

export class SdTurboPipeline {
  private vaeEncoder: Session | null | undefined;
  private released = false;
  readonly variant: ModelVariant;
  readonly family: Family;
  readonly backend: BackendName;

  private constructor(
    private readonly options: LoadOptions,
    readonly tokenizer: PromptTokenizer,
    private readonly textEncoder: Session,
    private readonly unet: Session,
    private readonly vaeDecoder: Session,
    /** Milliseconds spent fetching files and creating sessions. */
    readonly loadMs: number,
  ) {
    this.variant = options.variant;
    this.family = options.family;
    this.backend = options.backend;
  }

  static async load(options: LoadOptions): Promise<SdTurboPipeline> {
    const started = now();
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
    const textEncoder = await createSession(options, GRAPHS.textEncoder, ['last_hidden_state']);
    const unet = await createSession(options, GRAPHS.unet);
    const vaeDecoder = await createSession(options, GRAPHS.vaeDecoder);
    return new SdTurboPipeline(options, tokenizer, textEncoder, unet, vaeDecoder, now() - started);
  }

  /**
   * Whether this model can do img2img. The VAE encoder is optional in the web layout, so it is fetched and its
   * session created on the first img2img request (as the Python twin does), then kept.
   */
  async loadVaeEncoder(): Promise<boolean> {
    if (this.vaeEncoder === undefined) {
      const bytes = await readFile(this.options.read, GRAPHS.vaeEncoder);
      this.vaeEncoder = bytes === null ? null : await createSession(this.options, GRAPHS.vaeEncoder, [], bytes);
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
    const timed = async <T>(stage: string, work: () => Promise<T> | T): Promise<T> => {
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
      const embedding = await timed('text_encoder', () =>
        this.run(this.textEncoder, 'text_encoder', { input_ids: new ort.Tensor('int32', tokens.inputIds, [1, maxLength]) }),
      );
      toDispose.push(embedding);
      checkOutput('text_encoder', await tensorData(embedding));

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

      // 4. Denoising loop: scale input, predict noise, Euler step.
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
            timestep: new ort.Tensor('int64', recipe.unetTimestep(schedule.timesteps[i] ?? 0), [1]),
            encoder_hidden_states: embedding,
          });
          return tensorData(out);
        });
        checkOutput(stage, noisePred);
        latents = recipe.eulerStep(latents, noisePred, sigma, sigmaNext);
        checkOutput(`scheduler step ${String(i + 1)}`, latents);
      }

      // 5. Decode: unscale latents, VAE decoder, [-1, 1] -> [0, 1].
      await checkpoint();
      progress({ stage: 'vae_decoder' });
      const decoded = await timed('vae_decoder', async () => {
        const out = await this.run(this.vaeDecoder, 'vae_decoder', {
          latent_sample: new ort.Tensor('float32', recipe.latentsToVae(latents, vae.scaling_factor), shape),
        });
        return tensorData(out);
      });
      checkOutput('vae_decoder', decoded);
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

  /** Frees the sessions (and with them their GPU buffers). Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const sessions = [this.textEncoder, this.unet, this.vaeDecoder, this.vaeEncoder ?? undefined];
    await Promise.all(sessions.map(async (s) => s?.release()));
  }

  /** One graph's first output; onnxruntime failures become typed errors naming the stage. */
  private async run(session: Session, stage: string, feeds: Record<string, Tensor>): Promise<Tensor> {
    let results: OrtModule.InferenceSession.OnnxValueMapType;
    try {
      results = await session.run(feeds);
    } catch (error) {
      throw EngineError.wrap(error, 'inference-failed', `${stage} failed`, stage);
    }
    const name = session.outputNames[0];
    const output = name === undefined ? undefined : results[name];
    if (output === undefined) throw new EngineError('inference-failed', `${stage} returned no output`, stage);
    return output;
  }
}

async function requiredFile(options: LoadOptions, path: string): Promise<Uint8Array> {
  const bytes = await readFile(options.read, path);
  if (bytes === null) throw new EngineError('model-load-failed', `model ${options.variant.id} lacks ${path}`, 'load');
  return bytes;
}

async function createSession(
  options: LoadOptions,
  path: string,
  keepOnGpu: readonly string[] = [],
  bytes?: Uint8Array,
): Promise<Session> {
  const { ort, variant, backend } = options;
  const model = bytes ?? (await requiredFile(options, path));
  try {
    const session = await ort.InferenceSession.create(
      model,
      sessionOptions(backend, path, variant, options.family, options.size, keepOnGpu),
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
