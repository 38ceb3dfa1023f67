/**
 * The dedicated Web Worker that owns onnxruntime-web and the GPU: a thin Comlink layer over `Engine`.
 * Replies carry errors as data (`EngineErrorWire`), because structured clone drops an Error's code.
 */
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web';
import { wasmThreadsReason } from './capabilities';
import { Engine, type EngineRequest, type EngineResult, type EngineStats } from './engine';
import { EngineError, type EngineErrorWire } from './errors';
import type { Progress } from './pipeline';
import { encodePng } from './png';
import { directoryReader } from './sources';
import { runtimeManifest } from './store/definitions';
import { storeReaders } from './store/reader';
import type { ToolProgress } from './tools/ops';
import { encodeRgbaPng } from './tools/png';
import { ToolEngine, type ToolRequest, type ToolResult } from './tools/toolEngine';

export interface WorkerConfig {
  /** The gateway's served manifest, whose files carry their mirror URLs (used unless modelBaseUrl is set). */
  readonly manifestUrl: string;
  /** Instead of the mirror: a directory tree `<modelBaseUrl>/<variant id>/<path>` (e.g. the repo's fixtures/). */
  readonly modelBaseUrl?: string;
  /** Where onnxruntime-web's .wasm/.mjs runtime files are served (same origin: the page is cross-origin isolated). */
  readonly wasmPaths: string;
  readonly defaultModel?: string;
  /** wasm threads; default min(4, cores) where shared memory exists (cross-origin isolated), else 1. */
  readonly numThreads?: number;
}

export type WorkerReply<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: EngineErrorWire };

async function reply<T>(work: () => Promise<T>): Promise<WorkerReply<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: EngineError.wrap(error, 'inference-failed', 'engine failure').toWire() };
  }
}

let engine: Engine | null = null;
let tools: ToolEngine | null = null;

function configured(): Engine {
  if (engine === null) throw new EngineError('disposed', 'the engine worker was not configured');
  return engine;
}

function configuredTools(): ToolEngine {
  if (tools === null) throw new EngineError('disposed', 'the engine worker was not configured');
  return tools;
}

const api = {
  configure(config: WorkerConfig): void {
    if (engine !== null) throw new Error('the engine worker is configured once; start a new worker to change it');
    ort.env.wasm.wasmPaths = config.wasmPaths;
    const cores = self.navigator.hardwareConcurrency || 1;
    ort.env.wasm.numThreads = config.numThreads ?? (wasmThreadsReason(self) === null ? Math.min(4, cores) : 1);
    ort.env.logLevel = 'error';
    engine = new Engine({
      ort,
      readerFor:
        config.modelBaseUrl === undefined
          ? storeReaders(config.manifestUrl) // OPFS when stored, else the mirror, verified either way
          : (variantId) => directoryReader(config.modelBaseUrl ?? '', variantId),
      gpu: 'gpu' in self.navigator ? self.navigator.gpu : undefined,
      encodePng,
      loadManifest: () => runtimeManifest(config.manifestUrl),
      ...(config.defaultModel === undefined ? {} : { defaultModel: config.defaultModel }),
    });
    // The canvas tools share the engine's ORT, readers, GPU device and queue.
    tools = new ToolEngine({ host: engine.host(), encodePng: encodeRgbaPng });
  },

  async generate(request: EngineRequest, onProgress?: (progress: Progress) => void): Promise<WorkerReply<EngineResult>> {
    const result = await reply(() => configured().generate(request, onProgress));
    if (result.ok && result.value.pixels !== null) return Comlink.transfer(result, [result.value.pixels.buffer]);
    return result;
  },

  cancel(): void {
    engine?.cancel();
  },

  stats(): Promise<WorkerReply<EngineStats>> {
    return reply(() => configured().stats());
  },

  dispose(): Promise<WorkerReply<null>> {
    return reply(async () => {
      await tools?.dispose();
      await engine?.dispose();
      return null;
    });
  },

  simulateDeviceLoss(): Promise<WorkerReply<boolean>> {
    return reply(() => configured().simulateDeviceLoss());
  },

  async tool(request: ToolRequest, onProgress?: (progress: ToolProgress) => void): Promise<WorkerReply<ToolResult>> {
    const result = await reply(() => configuredTools().run(request, onProgress));
    if (!result.ok) return result;
    const buffers: ArrayBuffer[] = [result.value.rgba.buffer as ArrayBuffer];
    if (result.value.pixels !== null) buffers.push(result.value.pixels.buffer as ArrayBuffer);
    return Comlink.transfer(result, buffers);
  },

  cancelTool(): void {
    tools?.cancel();
  },

  toolStats(): Promise<WorkerReply<ReturnType<ToolEngine['stats']>>> {
    return reply(() => Promise.resolve(configuredTools().stats()));
  },

  simulateToolDeviceLoss(): Promise<WorkerReply<boolean>> {
    return reply(() => configuredTools().simulateDeviceLoss());
  },
};

export type WorkerApi = typeof api;

Comlink.expose(api);
