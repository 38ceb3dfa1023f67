/**
 * The stateful engine: picks variant and backend, keeps one warm pipeline per (model, backend), serializes runs
 * with cancel/supersede, watches the WebGPU device for loss, and counts sessions. Platform parts (ORT instance,
 * file reader, GPU, PNG encoder) are injected, so this runs in the Web Worker and in Node alike.
 */
import { chooseBackend, type BackendChoice, type BackendSupport } from './backend';
import { EngineError } from './errors';
import { acquireAdapter, limitsReport, type AcquiredAdapter } from './gpu';
import {
  MANIFEST,
  familyOf,
  findVariant,
  mergeManifests,
  type BackendName,
  type Manifest,
  type ManifestExtension,
  type ModelVariant,
} from './manifest';
import { SdTurboPipeline, fixesImageSize, type ImageSize, type ModelReader, type Ort, type Progress } from './pipeline';
import { validateRequest, type GenerateRequest } from './request';

export interface EngineRequest extends GenerateRequest {
  /** Run exactly this backend, or fail with 'backend-unavailable' (default: the best one here). */
  readonly backend?: BackendName;
  /** Also return the float pixels (HWC, [0, 1]), e.g. for comparisons in tests. */
  readonly returnPixels?: boolean;
}

export interface EngineResult {
  /** PNG bytes, when the engine has an encoder (the worker has; Node callers may not). */
  readonly png: Blob | null;
  /** HWC [height, width, 3] in [0, 1], when asked for. */
  readonly pixels: Float32Array | null;
  readonly width: number;
  readonly height: number;
  readonly model: string;
  readonly backend: BackendName;
  /** Why the model or backend differs from what was asked; null when it does not. */
  readonly reason: string | null;
  readonly mode: 'txt2img' | 'img2img';
  readonly seed: number;
  readonly steps: number;
  readonly timesteps: number[];
  readonly promptTokens: number;
  readonly truncated: boolean;
  /** Milliseconds per stage: [load], tokenize, text_encoder, [vae_encoder], unet, vae_decoder, [png], total. */
  readonly timings: Record<string, number>;
  /** Sessions this engine has created so far (a warm second run adds none). */
  readonly sessionsCreated: number;
}

export interface EngineStats {
  readonly sessionsCreated: number;
  readonly pipelines: string[];
  readonly support: BackendSupport | null;
  /** Adapter vs device limits, once a WebGPU session exists. */
  readonly limits: Record<string, { adapter: number; device: number }> | null;
  readonly deviceLost: string | null;
}

export type PngEncoder = (pixels: Float32Array, width: number, height: number) => Promise<Blob>;

/**
 * What the canvas tools (engine/tools) share with the engine in its worker: the one onnxruntime instance, the
 * model readers, the judged GPU adapter and device, and the run queue (an ORT backend runs one graph at a time).
 */
export interface EngineHost {
  readonly ort: Ort;
  readonly readerFor: (variantId: string) => ModelReader;
  /** Runs `work` after the queued generations and before later ones; it neither supersedes nor is superseded. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  adapter(): Promise<AcquiredAdapter>;
  /** The loss message once ORT's WebGPU device is lost (WebGPU cannot come back in this worker), else null. */
  deviceLost(): string | null;
  /** Called after a tool creates a WebGPU session: the engine watches ORT's device from then on. */
  adoptDevice(device: GPUDevice): void;
}

export interface EngineDeps {
  readonly ort: Ort;
  /** The file reader for one model variant (e.g. fetch under `<modelBaseUrl>/<id>/`). */
  readonly readerFor: (variantId: string) => ModelReader;
  /** navigator.gpu, or undefined where there is none. */
  readonly gpu: GPU | undefined;
  readonly encodePng?: PngEncoder;
  readonly defaultModel?: string;
  readonly manifest?: Manifest;
  /**
   * Variants and families known at run time (the gateway's served manifest, or what downloads stored when it is
   * gone), merged over `manifest`; asked once, and again when a request names a variant not yet known.
   */
  readonly loadManifest?: () => Promise<ManifestExtension | null>;
}

/**
 * Drafts default to SD-Turbo with the tiny TAESD decoder: on an H100 through Dawn the whole draft took 187 ms
 * against 367 ms with SD's VAE (docs/performance.md). Drafts are previews and the final is re-rendered in the
 * cloud, as StreamDiffusion previews with TAESD; `sd-turbo-fp16` keeps the full decoder. Without shader-f16
 * the manifest's fallback (int8, full decoder) runs.
 */
export const DEFAULT_MODEL = 'sd-turbo-fp16-taesd';

/** Lets queued messages (cancel, a newer request) run: a macrotask, unlike `await` on a settled promise. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

interface Ticket {
  readonly id: number;
  stopped: EngineError | null;
}

export class Engine {
  private readonly deps: EngineDeps;
  private readonly baseManifest: Manifest;
  private manifest: Manifest;
  private manifestLoaded = false;
  private readonly pipelines = new Map<string, Promise<SdTurboPipeline>>();
  private adapter: Promise<AcquiredAdapter> | null = null;
  private device: GPUDevice | null = null;
  private deviceLost: string | null = null;
  private disposed = false;
  private sessions = 0;
  private current: Ticket | null = null;
  private nextTicket = 0;
  /** Runs one at a time: an ORT session cannot run twice at once, and a superseded run must end first. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(deps: EngineDeps) {
    this.deps = deps;
    this.baseManifest = this.manifest = deps.manifest ?? MANIFEST;
  }

  /** The manifest with what is known at run time, (re)loaded first when `id` is not in it yet. */
  private async refreshManifest(id: string): Promise<void> {
    const load = this.deps.loadManifest;
    if (load === undefined) return;
    if (this.manifestLoaded && this.manifest.variants.some((v) => v.id === id)) return;
    try {
      const extra = await load();
      if (extra !== null) this.manifest = mergeManifests(this.baseManifest, extra);
      this.manifestLoaded = true;
    } catch {
      // Neither the gateway nor stored definitions: the bundle's manifest still serves its own variants.
    }
  }

  get sessionsCreated(): number {
    return this.sessions;
  }

  /** The engine's shared parts for the canvas tools (see EngineHost). */
  host(): EngineHost {
    return {
      ort: this.deps.ort,
      readerFor: this.deps.readerFor,
      exclusive: <T>(work: () => Promise<T>): Promise<T> => {
        this.assertUsable();
        const run = this.queue.then(work);
        this.queue = run.catch(() => undefined);
        return run;
      },
      adapter: () => this.acquire(),
      deviceLost: () => this.deviceLost,
      adoptDevice: (device) => {
        if (this.device === null && this.deviceLost === null) this.watchDevice(device);
      },
    };
  }

  /** Generates one image; a newer call supersedes this one (it then rejects with 'superseded'). */
  async generate(request: EngineRequest, onProgress?: (progress: Progress) => void): Promise<EngineResult> {
    this.assertUsable();
    const ticket: Ticket = { id: ++this.nextTicket, stopped: null };
    if (this.current !== null) {
      this.current.stopped = new EngineError('superseded', `a newer request (#${String(ticket.id)}) superseded this one`);
    }
    this.current = ticket;
    const run = this.queue.then(() => this.runTicket(ticket, request, onProgress));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stops the in-flight generation at its next stage boundary; it rejects with 'cancelled'. */
  cancel(): void {
    if (this.current !== null) this.current.stopped ??= new EngineError('cancelled', 'the generation was cancelled');
  }

  stats(): Promise<EngineStats> {
    return this.statsNow();
  }

  /** Releases every session and the GPU device; the engine refuses work afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.cancel();
    await this.queue;
    await this.releasePipelines();
    this.device?.destroy();
    this.device = null;
  }

  /** Destroys the WebGPU device as a driver reset would, to exercise the device-loss path. */
  async simulateDeviceLoss(): Promise<boolean> {
    await this.queue;
    if (this.device === null) return false;
    const lost = this.device.lost;
    this.device.destroy();
    await lost;
    return true;
  }

  private assertUsable(): void {
    if (this.disposed) throw new EngineError('disposed', 'the engine was disposed');
  }

  private async runTicket(
    ticket: Ticket,
    request: EngineRequest,
    onProgress?: (progress: Progress) => void,
  ): Promise<EngineResult> {
    let ticketBackend: 'webgpu' | 'wasm' = 'wasm';
    const check = (): void => {
      if (ticketBackend === 'webgpu' && this.deviceLost !== null) {
        throw new EngineError('device-lost', `the WebGPU device was lost: ${this.deviceLost}`);
      }
      if (ticket.stopped !== null) throw ticket.stopped;
      if (this.disposed) throw new EngineError('disposed', 'the engine was disposed');
    };
    const checkpoint = async (): Promise<void> => {
      await yieldToEventLoop();
      check();
    };
    const started = performance.now();
    try {
      check();
      const requestedId = request.model ?? this.deps.defaultModel ?? DEFAULT_MODEL;
      if (typeof requestedId === 'string') await this.refreshManifest(requestedId);
      check();
      const requested = findVariant(requestedId, this.manifest);
      // Bad input fails here, before any model file is fetched.
      validateRequest(request, { variant: requested, family: familyOf(requested, this.manifest), img2img: true });
      const choice = await this.choose(requested, request.backend);
      ticketBackend = choice.backend === 'wasm' ? 'wasm' : 'webgpu';
      const family = familyOf(choice.variant, this.manifest);
      const valid = validateRequest(request, { variant: choice.variant, family, img2img: true });
      await checkpoint();
      onProgress?.({ stage: 'load' });
      const loadStart = performance.now();
      const sessionsBefore = this.sessions;
      const pipeline = await this.pipeline(choice, { width: valid.width, height: valid.height });
      if (valid.initImage !== undefined && !(await pipeline.loadVaeEncoder())) {
        throw new EngineError(
          'unsupported-by-model',
          `model ${choice.variant.id} has no vae_encoder/model.onnx, so it cannot do img2img`,
        );
      }
      const loadMs = this.sessions > sessionsBefore ? performance.now() - loadStart : null;
      const output = await pipeline.generate(valid, { checkpoint, ...(onProgress ? { onProgress } : {}) });
      await checkpoint();
      let png: Blob | null = null;
      const timings: Record<string, number> = { ...output.timings };
      if (loadMs !== null) timings.load = loadMs;
      if (this.deps.encodePng !== undefined) {
        onProgress?.({ stage: 'png' });
        const pngStart = performance.now();
        try {
          png = await this.deps.encodePng(output.pixels, output.width, output.height);
        } catch (error) {
          throw EngineError.wrap(error, 'encode-failed', 'PNG encoding failed', 'png');
        }
        timings.png = performance.now() - pngStart;
      }
      timings.total = performance.now() - started;
      return {
        png,
        pixels: request.returnPixels === true ? output.pixels : null,
        width: output.width,
        height: output.height,
        model: choice.variant.id,
        backend: choice.backend,
        reason: choice.reason,
        mode: output.mode,
        seed: valid.seed,
        steps: valid.steps,
        timesteps: output.timesteps,
        promptTokens: output.promptTokens,
        truncated: output.truncated,
        timings,
        sessionsCreated: this.sessions,
      };
    } catch (error) {
      // A lost device makes ORT fail in assorted ways; report the cause, not the symptom.
      if (this.deviceLost !== null && ticketBackend === 'webgpu') {
        throw new EngineError('device-lost', `the WebGPU device was lost: ${this.deviceLost}`);
      }
      throw EngineError.wrap(error, 'inference-failed', 'generation failed');
    } finally {
      if (this.current === ticket) this.current = null;
    }
  }

  private async choose(requested: ModelVariant, forced?: BackendName): Promise<BackendChoice> {
    const acquired = await this.acquire();
    if (this.deviceLost !== null) {
      // ORT-web cannot re-create its WebGPU backend in this worker: the caller must start a new engine.
      if (forced !== undefined && forced !== 'wasm') {
        throw new EngineError('device-lost', `the WebGPU device was lost: ${this.deviceLost}`);
      }
      const support = { ...acquired.support, hasWebGPU: false, webgpuReason: `device lost: ${this.deviceLost}` };
      return chooseBackend(requested, support, forced, this.manifest);
    }
    return chooseBackend(requested, acquired.support, forced, this.manifest);
  }

  private acquire(): Promise<AcquiredAdapter> {
    this.adapter ??= acquireAdapter(this.deps.gpu);
    return this.adapter;
  }

  /**
   * The warm pipeline for `choice` (and, where the backend fixes every dimension, for this size). Only one size
   * of a (model, backend) is kept: a real model's weights are GBs on the GPU, and canvases rarely change size.
   */
  private async pipeline(choice: BackendChoice, size: ImageSize): Promise<SdTurboPipeline> {
    const base = `${choice.variant.id}/${choice.backend}`;
    const sized = fixesImageSize(choice.backend);
    const key = sized ? `${base}/${String(size.width)}x${String(size.height)}` : base;
    let pipeline = this.pipelines.get(key);
    if (pipeline === undefined) {
      if (sized) await this.releaseOtherSizes(`${base}/`);
      pipeline = this.load(choice, sized ? size : undefined);
      this.pipelines.set(key, pipeline);
      // A failed load must not stay cached: the next request tries again.
      pipeline.catch(() => this.pipelines.delete(key));
    }
    return pipeline;
  }

  /** Runs are serialized, so no other run uses these sessions while they are released. */
  private async releaseOtherSizes(prefix: string): Promise<void> {
    const stale = [...this.pipelines].filter(([key]) => key.startsWith(prefix));
    for (const [key] of stale) this.pipelines.delete(key);
    await Promise.all(stale.map(([, p]) => p.then((pipeline) => pipeline.release()).catch(() => undefined)));
  }

  private async load(choice: BackendChoice, size: ImageSize | undefined): Promise<SdTurboPipeline> {
    const { ort } = this.deps;
    if (choice.backend !== 'wasm') {
      const { adapter } = await this.acquire();
      // Read once by ORT when it creates its WebGPU backend (on the first WebGPU session).
      // Deprecated in favour of `env.webgpu.device`, which JSEP 1.30 ignores: the adapter is the only way in.
      /* eslint-disable @typescript-eslint/no-deprecated, @typescript-eslint/no-unnecessary-condition */
      if (adapter !== null && !ort.env.webgpu.adapter) ort.env.webgpu.adapter = adapter;
      /* eslint-enable @typescript-eslint/no-deprecated, @typescript-eslint/no-unnecessary-condition */
    }
    const pipeline = await SdTurboPipeline.load({
      ort,
      read: this.deps.readerFor(choice.variant.id),
      variant: choice.variant,
      family: familyOf(choice.variant, this.manifest),
      backend: choice.backend,
      ...(size === undefined ? {} : { size }),
      onSessionCreated: () => {
        this.sessions++;
      },
    });
    if (choice.backend !== 'wasm' && this.device === null) this.watchDevice(await ort.env.webgpu.device);
    return pipeline;
  }

  private watchDevice(device: GPUDevice): void {
    this.device = device;
    void device.lost.then((info) => {
      if (this.disposed) return;
      this.deviceLost = info.message || info.reason;
      this.device = null;
      // Sessions on a lost device are dead; wasm pipelines keep working.
      for (const [key, pipeline] of this.pipelines) {
        if (!key.endsWith('/wasm')) {
          this.pipelines.delete(key);
          void pipeline.then((p) => p.release()).catch(() => undefined);
        }
      }
    });
  }

  private async releasePipelines(): Promise<void> {
    const all = [...this.pipelines.values()];
    this.pipelines.clear();
    await Promise.all(all.map((p) => p.then((pipeline) => pipeline.release()).catch(() => undefined)));
  }

  private async statsNow(): Promise<EngineStats> {
    const acquired = this.adapter === null ? null : await this.adapter;
    const { adapter } = acquired ?? { adapter: null };
    return {
      sessionsCreated: this.sessions,
      pipelines: [...this.pipelines.keys()],
      support: acquired?.support ?? null,
      limits: adapter !== null && this.device !== null ? limitsReport(adapter, this.device) : null,
      deviceLost: this.deviceLost,
    };
  }
}
