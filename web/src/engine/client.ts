/**
 * The page's handle on the engine: starts the dedicated worker, forwards requests through Comlink, and turns
 * error replies back into `EngineError`s. After a device loss the worker is replaced on the next request,
 * because ORT-web cannot re-create its WebGPU backend inside the same worker.
 */
import * as Comlink from 'comlink';
import type { EngineRequest, EngineResult, EngineStats } from './engine';
import { EngineError } from './errors';
import type { Progress } from './pipeline';
import type { ToolProgress } from './tools/ops';
import type { ToolRequest, ToolResult } from './tools/toolEngine';
import type { WorkerApi, WorkerConfig, WorkerReply } from './worker';

export const DEFAULT_CONFIG: WorkerConfig = {
  manifestUrl: '/models/manifest.json',
  // Where web/tooling/ortWasmAssets.ts puts onnxruntime-web's runtime files.
  wasmPaths: '/ort/',
};

export interface GenerateOptions {
  readonly onProgress?: (progress: Progress) => void;
}

function unwrap<T>(reply: WorkerReply<T>): T {
  if (reply.ok) return reply.value;
  throw EngineError.fromWire(reply.error);
}

export class EngineClient {
  private config: WorkerConfig;
  private worker: Worker | null = null;
  private remote: Comlink.Remote<WorkerApi> | null = null;
  private started = 0;
  /** Settles once the latest generate request has been posted to the worker (see `cancel`). */
  private lastPosted: Promise<void> = Promise.resolve();

  constructor(config: Partial<WorkerConfig> = {}) {
    this.config = { ...DEFAULT_CONFIG, ...config };
  }

  /** Workers started so far (a device loss or a new configuration starts another). */
  get workersStarted(): number {
    return this.started;
  }

  /** Changes where models are read from; restarts the worker (and so its sessions) if it runs. */
  async configure(config: Partial<WorkerConfig>): Promise<void> {
    this.config = { ...this.config, ...config };
    await this.dispose();
  }

  async generate(request: EngineRequest, options: GenerateOptions = {}): Promise<EngineResult> {
    let posted = (): void => undefined;
    this.lastPosted = new Promise((resolve) => (posted = resolve));
    let pending: Promise<WorkerReply<EngineResult>>;
    try {
      const remote = await this.connect();
      const progress = options.onProgress === undefined ? undefined : Comlink.proxy(options.onProgress);
      pending = remote.generate(request, progress); // Comlink posts the message synchronously here
    } finally {
      posted();
    }
    const reply = await pending;
    if (!reply.ok && reply.error.code === 'device-lost') this.terminate();
    return unwrap(reply);
  }

  /** Stops the in-flight generation at its next stage boundary (it rejects with 'cancelled'). */
  async cancel(): Promise<void> {
    // A generate called just before may still be connecting: cancel must reach the worker after it.
    await this.lastPosted;
    await this.remote?.cancel();
  }

  async stats(): Promise<EngineStats & { workersStarted: number }> {
    const remote = await this.connect();
    return { ...unwrap(await remote.stats()), workersStarted: this.started };
  }

  /** Frees sessions and GPU memory, then ends the worker; a later request starts a new one. */
  async dispose(): Promise<void> {
    const remote = this.remote;
    if (remote === null) return;
    try {
      unwrap(await remote.dispose());
    } finally {
      this.terminate();
    }
  }

  /**
   * Runs a canvas tool (engine/tools) in the engine's worker; a newer call supersedes the one in flight. A
   * WebGPU device lost mid-run leaves that worker unusable: the run starts again, whole, on wasm in a new
   * worker, and `reason` says so. Nothing partial is ever returned.
   */
  async runTool(request: ToolRequest, options: { onProgress?: (progress: ToolProgress) => void } = {}): Promise<ToolResult> {
    const progress = options.onProgress === undefined ? undefined : Comlink.proxy(options.onProgress);
    const reply = await (await this.connect()).tool(request, progress);
    if (reply.ok || reply.error.code !== 'device-lost' || request.backend === 'wasm') {
      if (!reply.ok && reply.error.code === 'device-lost') this.terminate();
      return unwrap(reply);
    }
    this.terminate();
    const again = unwrap(await (await this.connect()).tool({ ...request, backend: 'wasm' }, progress));
    return { ...again, reason: `WebGPU failed mid-run (${reply.error.message}); ran again on wasm in a new worker` };
  }

  async cancelTool(): Promise<void> {
    await this.remote?.cancelTool();
  }

  async toolStats(): Promise<{ sessionsCreated: number; sessions: string[]; deviceLost: string | null }> {
    const remote = await this.connect();
    return unwrap(await remote.toolStats());
  }

  /** Test hook: destroys the WebGPU device under a tool run, as a driver reset would. */
  async simulateToolDeviceLoss(): Promise<boolean> {
    const remote = await this.connect();
    return unwrap(await remote.simulateToolDeviceLoss());
  }

  /** Test hook: destroys the worker's WebGPU device as a driver reset would. */
  async simulateDeviceLoss(): Promise<boolean> {
    const remote = await this.connect();
    return unwrap(await remote.simulateDeviceLoss());
  }

  private async connect(): Promise<Comlink.Remote<WorkerApi>> {
    if (this.remote !== null) return this.remote;
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'turbodraft-engine' });
    const remote = Comlink.wrap<WorkerApi>(worker);
    this.worker = worker;
    this.remote = remote;
    this.started++;
    await remote.configure(this.config);
    return remote;
  }

  private terminate(): void {
    this.remote?.[Comlink.releaseProxy]();
    this.worker?.terminate();
    this.worker = null;
    this.remote = null;
  }
}
