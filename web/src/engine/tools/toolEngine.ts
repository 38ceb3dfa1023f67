/**
 * The canvas tools on onnxruntime-web, in the engine's worker: one warm session per (model, backend), the
 * engine's queue and GPU device, WebGPU where it is real hardware and wasm otherwise, as drafts choose.
 *
 * - A newer run supersedes the one in flight (a live style preview); `cancel` stops it. Either way it stops at
 *   its next tile or stage, and rejects: nothing partial comes back.
 * - A WebGPU device lost mid-run (a driver reset) ends the run with 'device-lost' at once (a run on a lost
 *   device never settles by itself); EngineClient.runTool then reruns it, whole, on wasm in a new worker, as
 *   ORT cannot re-create WebGPU in this one and the stuck run blocks its wasm runtime.
 * - Bad input fails before any model file is read; a model that is neither stored nor served is
 *   'model-not-downloaded', naming the model and its size so the caller can offer the download.
 */
import type * as OrtModule from 'onnxruntime-web';
import { type BackendSupport, unavailableBecause } from '../backend';
import type { EngineHost } from '../engine';
import { EngineError } from '../errors';
import { checkedImage, checkSize, joinFloat, type RgbaImage, toBytes } from './images';
import { downloadBytes, findToolModel, type ToolBackend, type ToolKind, type ToolModel, TOOL_MODELS } from './manifest';
import {
  type GraphOutput,
  type OpResult,
  removeBackground,
  type RunGraph,
  shrinkTo,
  stylize,
  type ToolProgress,
  upscale,
} from './ops';

type Session = OrtModule.InferenceSession;

export interface ToolRequest {
  readonly tool: ToolKind;
  readonly model: string;
  readonly image: RgbaImage;
  /** Run exactly this backend, or fail with 'backend-unavailable' (default: the best one here). */
  readonly backend?: ToolBackend;
  /** Style: 0 is the original, 1 the full style. */
  readonly strength?: number;
  /** Scale the image down first so its longest side is at most this (live previews). */
  readonly maxSide?: number;
  /** Upscale: other tile / overlap than the manifest's (tests compare tiled with untiled). */
  readonly tile?: number;
  readonly overlap?: number;
  /** Also return float RGBA [H, W, 4] (comparisons in tests). */
  readonly returnPixels?: boolean;
}

export interface ToolResult {
  readonly tool: ToolKind;
  readonly model: string;
  readonly backend: ToolBackend;
  /** Why the backend is not the first choice (a software adapter, a device lost mid-run), or null. */
  readonly reason: string | null;
  readonly width: number;
  readonly height: number;
  /** 8-bit RGBA, straight alpha: what the canvas draws. */
  readonly rgba: Uint8ClampedArray;
  readonly pixels: Float32Array | null;
  readonly png: Blob | null;
  readonly tiles: number;
  readonly license: string;
  /** Milliseconds: [load], run (the tool, graph runs included), [png], total. */
  readonly timings: Record<string, number>;
  readonly sessionsCreated: number;
}

export type RgbaPngEncoder = (rgba: Uint8ClampedArray, width: number, height: number) => Promise<Blob>;

export interface ToolEngineDeps {
  readonly host: EngineHost;
  readonly encodePng?: RgbaPngEncoder;
  readonly models?: readonly ToolModel[];
}

interface Ticket {
  stopped: EngineError | null;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export class ToolEngine {
  private readonly deps: ToolEngineDeps;
  private readonly sessions = new Map<string, Promise<Session>>();
  private created = 0;
  private current: Ticket | null = null;
  private lost: string | null = null;
  /** Rejects with 'device-lost' once the WebGPU device is lost: a run on a lost device never settles. */
  private lostSignal: Promise<never> | null = null;
  private disposed = false;

  constructor(deps: ToolEngineDeps) {
    this.deps = deps;
  }

  get sessionsCreated(): number {
    return this.created;
  }

  /** Runs one tool; a newer call supersedes this one (it then rejects with 'superseded'). */
  run(request: ToolRequest, onProgress?: (progress: ToolProgress) => void): Promise<ToolResult> {
    if (this.disposed) return Promise.reject(new EngineError('disposed', 'the tool engine was disposed'));
    const ticket: Ticket = { stopped: null };
    if (this.current !== null) this.current.stopped = new EngineError('superseded', 'a newer tool request superseded this one');
    this.current = ticket;
    return this.deps.host
      .exclusive(() => this.runTicket(ticket, request, onProgress))
      .finally(() => {
        if (this.current === ticket) this.current = null;
      });
  }

  cancel(): void {
    if (this.current !== null) this.current.stopped ??= new EngineError('cancelled', 'the tool run was cancelled');
  }

  /** Destroys ORT's WebGPU device as a driver reset would, to exercise the fallback; false without one. */
  async simulateDeviceLoss(): Promise<boolean> {
    const ort = this.deps.host.ort;
    if (![...this.sessions.keys()].some((k) => k.endsWith('/webgpu'))) return false;
    const device = await ort.env.webgpu.device;
    device.destroy();
    return true;
  }

  stats(): { sessionsCreated: number; sessions: string[]; deviceLost: string | null } {
    return { sessionsCreated: this.created, sessions: [...this.sessions.keys()], deviceLost: this.deviceLost() };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.cancel();
    await this.release((key) => key !== '');
  }

  private deviceLost(): string | null {
    return this.lost ?? this.deps.host.deviceLost();
  }

  private async runTicket(ticket: Ticket, request: ToolRequest, onProgress?: (p: ToolProgress) => void): Promise<ToolResult> {
    const started = performance.now();
    const stop = (): void => {
      if (ticket.stopped !== null) throw ticket.stopped;
      if (this.disposed) throw new EngineError('disposed', 'the tool engine was disposed');
    };
    stop();
    const model = this.validate(request);
    // Bad input fails here, before any model file is read.
    const image = request.maxSide === undefined ? checkedImage(request.image) : shrinkTo(checkedImage(request.image), request.maxSide);
    checkSize(image.width, image.height, model.limits, model.id);
    const { backend, reason } = await this.choose(model, request.backend);
    const timings: Record<string, number> = {};
    const lostError = (): EngineError => new EngineError('device-lost', `the WebGPU device was lost: ${this.deviceLost() ?? ''}`);
    const checkpoint = async (): Promise<void> => {
      await yieldToEventLoop();
      stop();
      if (backend === 'webgpu' && this.deviceLost() !== null) throw lostError();
    };
    let output: OpResult;
    try {
      onProgress?.({ stage: 'load' });
      const loadStart = performance.now();
      const before = this.created;
      const session = await this.session(model, backend);
      if (this.created > before) timings.load = performance.now() - loadStart;
      const runStart = performance.now();
      output = await this.apply(model, request, image, this.runner(session, model, backend), {
        checkpoint,
        ...(onProgress ? { onProgress } : {}),
      });
      await checkpoint();
      timings.run = performance.now() - runStart;
    } catch (error) {
      if (backend === 'webgpu' && this.deviceLost() !== null) {
        // Sessions on a lost device are dead, and ORT's calls on it may never settle (their release is not
        // awaited); the stuck run also blocks this worker's wasm runtime, so the client reruns on a new worker.
        void this.release((key) => key.endsWith('/webgpu'));
        throw lostError();
      }
      throw EngineError.wrap(error, 'inference-failed', `${model.id} failed`, 'run');
    }
    const n = output.width * output.height;
    const floats = joinFloat(output.rgb, output.alpha, n);
    const rgba = toBytes(floats);
    let png: Blob | null = null;
    if (this.deps.encodePng !== undefined) {
      onProgress?.({ stage: 'png' });
      const pngStart = performance.now();
      try {
        png = await this.deps.encodePng(rgba, output.width, output.height);
      } catch (error) {
        throw EngineError.wrap(error, 'encode-failed', 'PNG encoding failed', 'png');
      }
      timings.png = performance.now() - pngStart;
    }
    timings.total = performance.now() - started;
    return {
      tool: model.tool,
      model: model.id,
      backend,
      reason,
      width: output.width,
      height: output.height,
      rgba,
      pixels: request.returnPixels === true ? floats : null,
      png,
      tiles: output.tiles,
      license: model.license,
      timings,
      sessionsCreated: this.created,
    };
  }

  /** Everything about the request that can be checked without the model's files. */
  private validate(request: ToolRequest): ToolModel {
    const model = findToolModel(request.model, this.deps.models ?? TOOL_MODELS);
    if (model.tool !== request.tool) {
      throw new EngineError('invalid-option', `${model.id} is a ${model.tool} model, not a ${request.tool} one`);
    }
    if (request.maxSide !== undefined && (!Number.isInteger(request.maxSide) || request.maxSide < 1)) {
      throw new EngineError('invalid-option', `maxSide must be a positive integer, got ${String(request.maxSide)}`);
    }
    return model;
  }

  private async apply(
    model: ToolModel,
    request: ToolRequest,
    image: RgbaImage,
    run: RunGraph,
    hooks: { checkpoint: () => Promise<void>; onProgress?: (p: ToolProgress) => void },
  ): Promise<OpResult> {
    if (model.tool === 'upscale') {
      const options = { ...(request.tile === undefined ? {} : { tile: request.tile }), ...(request.overlap === undefined ? {} : { overlap: request.overlap }) };
      return upscale(model, image, run, hooks, options);
    }
    if (model.tool === 'matte') return removeBackground(model, image, run, hooks);
    return stylize(model, image, run, request.strength ?? 1, hooks);
  }

  private async choose(model: ToolModel, forced?: ToolBackend): Promise<{ backend: ToolBackend; reason: string | null }> {
    const acquired = await this.deps.host.adapter();
    const lost = this.deviceLost();
    const support: BackendSupport = lost === null ? acquired.support : { ...acquired.support, hasWebGPU: false, webgpuReason: `device lost: ${lost}` };
    if (forced !== undefined) {
      if (!model.backends.includes(forced)) {
        throw new EngineError('backend-unavailable', `model ${model.id} runs on ${model.backends.join(' or ')}, not on ${forced}`);
      }
      const why = unavailableBecause(forced, support);
      if (why !== null) throw new EngineError('backend-unavailable', `cannot run ${model.id} on ${forced}: ${why}`);
      return { backend: forced, reason: null };
    }
    const usable = model.backends.filter((b) => unavailableBecause(b, support) === null);
    // A software adapter (SwiftShader) is about 100x slower than wasm on the same CPU, as for drafts.
    const preferred = support.isSoftwareAdapter ? (usable.find((b) => b === 'wasm') ?? usable[0]) : usable[0];
    if (preferred === undefined) {
      const why = model.backends.map((b) => unavailableBecause(b, support)).filter((r) => r !== null).join('; ');
      throw new EngineError('backend-unavailable', `cannot run ${model.id} here: ${why}`);
    }
    let reason: string | null = null;
    if (preferred !== model.backends[0]) {
      reason = support.isSoftwareAdapter && support.hasWebGPU
        ? `adapter ${support.adapterName} is a software rasteriser; wasm is faster on this CPU`
        : unavailableBecause(model.backends[0] ?? 'webgpu', support);
    }
    return { backend: preferred, reason };
  }

  private session(model: ToolModel, backend: ToolBackend): Promise<Session> {
    const key = `${model.id}/${backend}`;
    let session = this.sessions.get(key);
    if (session === undefined) {
      session = this.createSession(model, backend);
      this.sessions.set(key, session);
      session.catch(() => this.sessions.delete(key));
    }
    return session;
  }

  private async createSession(model: ToolModel, backend: ToolBackend): Promise<Session> {
    const { host } = this;
    const bytes = await this.readGraph(model);
    const ort = host.ort;
    if (backend === 'webgpu') {
      const { adapter } = await host.adapter();
      /* eslint-disable @typescript-eslint/no-deprecated, @typescript-eslint/no-unnecessary-condition */
      if (adapter !== null && !ort.env.webgpu.adapter) ort.env.webgpu.adapter = adapter;
      /* eslint-enable @typescript-eslint/no-deprecated, @typescript-eslint/no-unnecessary-condition */
    }
    let session: Session;
    try {
      session = await ort.InferenceSession.create(bytes, {
        graphOptimizationLevel: 'all',
        freeDimensionOverrides: { batch: 1 },
        // fp32 on WebGPU keeps NCHW, as drafts do: JSEP's NHWC mis-computed shape-derived ops (trap 1).
        executionProviders: backend === 'wasm' ? ['wasm'] : [{ name: 'webgpu', preferredLayout: 'NCHW' }],
      });
    } catch (error) {
      throw EngineError.wrap(error, 'model-load-failed', `cannot create a ${backend} session for ${model.id}/${model.graph}`, 'load');
    }
    this.created++;
    if (backend === 'webgpu') {
      const device = await ort.env.webgpu.device;
      host.adoptDevice(device);
      this.lostSignal ??= device.lost.then((info) => {
        this.lost ??= info.message || info.reason;
        throw new EngineError('device-lost', `the WebGPU device was lost: ${this.lost}`, 'run');
      });
      this.lostSignal.catch(() => undefined);
    }
    return session;
  }

  private get host(): EngineHost {
    return this.deps.host;
  }

  private async readGraph(model: ToolModel): Promise<Uint8Array> {
    const size = downloadBytes(model);
    const hint = `${model.id} is not downloaded${size === null ? '' : ` (${(size / 1e6).toFixed(1)} MB)`}: download it in the model panel or run \`turbodraft models pull ${model.id}\``;
    let bytes: Uint8Array | null;
    try {
      bytes = await this.host.readerFor(model.id)(model.graph);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new EngineError('model-not-downloaded', `${hint} (${detail})`, 'load');
    }
    if (bytes === null) throw new EngineError('model-not-downloaded', hint, 'load');
    return bytes;
  }

  private runner(session: Session, model: ToolModel, backend: ToolBackend): RunGraph {
    const ort = this.host.ort;
    const input = model.io.input ?? session.inputNames[0];
    const output = model.io.output ?? session.outputNames[0];
    if (input === undefined || !session.inputNames.includes(input) || output === undefined || !session.outputNames.includes(output)) {
      throw new EngineError(
        'model-load-failed',
        `${model.id}: the graph has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], ` +
          `the manifest expects ${model.io.input ?? '(first)'} -> ${model.io.output ?? '(first)'}`,
        'load',
      );
    }
    const lost = backend === 'webgpu' ? this.lostSignal : null;
    return async (data, height, width): Promise<GraphOutput> => {
      const feeds = { [input]: new ort.Tensor('float32', data, [1, 3, height, width]) };
      let results: Record<string, OrtModule.Tensor>;
      try {
        const running = session.run(feeds, [output]);
        // A run on a lost device never settles (seen with SwiftShader and JSEP 1.30): the loss ends it instead.
        results = await (lost === null ? running : Promise.race([running, lost]));
      } catch (error) {
        throw EngineError.wrap(error, 'inference-failed', `${model.id} failed on a ${String(width)}x${String(height)} input`, 'run');
      }
      const tensor = results[output];
      if (tensor?.type !== 'float32' || tensor.dims.length !== 4 || tensor.dims[0] !== 1) {
        throw new EngineError('bad-output', `${model.id} returned no [1, C, H, W] float32 ${output}`, 'run');
      }
      const values = (tensor.location === 'cpu' ? tensor.data : await tensor.getData()) as Float32Array;
      const [, c, h, w] = tensor.dims as [number, number, number, number];
      return { data: values, dims: [c, h, w] };
    };
  }

  private async release(match: (key: string) => boolean): Promise<void> {
    const stale = [...this.sessions].filter(([key]) => match(key));
    for (const [key] of stale) this.sessions.delete(key);
    await Promise.all(stale.map(([, s]) => s.then((session) => session.release()).catch(() => undefined)));
  }
}
