// What this browser can do for local drafts: WebGPU (and how well), threads, storage, offline start.
// Detection never throws: each failure is reported as a reason string, so the page and the
// engine can always choose a path (WebGPU, wasm, or the server), and each lack the app works around
// is listed with what it means for the user.
import { NO_OPFS_CAUSE, refusedOpfsCause, storageUnavailableText } from './store/support';

/** Limits that decide whether SD-Turbo's large weights and kernels fit; requested as the engine will. */
export const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

export type RequestedLimit = (typeof REQUESTED_LIMITS)[number];

export const DEFAULT_TIMEOUT_MS = 10_000;

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|microsoft basic render/i;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

export interface LimitsSummary {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxComputeWorkgroupStorageSize: number;
}

export interface StorageSummary {
  /** Bytes the origin may use, or null when unknown. */
  quota: number | null;
  /** Bytes the origin uses now, or null when unknown. */
  usage: number | null;
  /** Whether storage is exempt from eviction, or null when unknown. */
  persisted: boolean | null;
  /** Why something above is unknown; null when everything was read. */
  reason: string | null;
}

/** Something the app uses that this browser lacks, and what the user gets instead. */
export interface Limitation {
  readonly feature: 'webgpu' | 'wasm-threads' | 'opfs' | 'service-worker';
  readonly message: string;
}

export interface CapabilityReport {
  /** True only when an adapter was found AND a device could be created on it. */
  hasWebGPU: boolean;
  /** Why WebGPU is not usable; null when it is. */
  reason: string | null;
  adapter: AdapterSummary | null;
  /** A CPU rasteriser (SwiftShader, llvmpipe, ...): correct but far too slow for diffusion. */
  isSoftwareAdapter: boolean;
  shaderF16: boolean;
  limits: LimitsSummary | null;
  deviceCreated: boolean;
  deviceError: string | null;
  crossOriginIsolated: boolean;
  /** Whether wasm may run on several threads (shared memory); onnxruntime-web uses one otherwise. */
  wasmThreads: boolean;
  wasmThreadsReason: string | null;
  hardwareConcurrency: number | null;
  storage: StorageSummary;
  /** Whether the Origin Private File System opens here: where the model store keeps its files. */
  opfs: boolean;
  opfsReason: string | null;
  /** Whether service workers exist here: what lets the app start offline. */
  serviceWorker: boolean;
  /** What the app does without, in words for the user; empty when nothing is missing. */
  limitations: Limitation[];
  userAgent: string;
}

// Structural shapes of the browser APIs used here, so tests can pass small fakes and the real
// `navigator` still fits.

export interface AdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}

export interface DeviceLike {
  destroy(): void;
}

export interface AdapterLike {
  /** Absent in browsers that predate `GPUAdapter.info`. */
  readonly info?: AdapterInfoLike;
  /** Older browsers exposed this on the adapter rather than on `info`. */
  readonly isFallbackAdapter?: boolean;
  readonly features: { has(feature: string): boolean };
  readonly limits: Readonly<Partial<Record<RequestedLimit, number>>>;
  requestDevice(descriptor?: GPUDeviceDescriptor): Promise<DeviceLike>;
}

export interface GpuLike {
  requestAdapter(options?: GPURequestAdapterOptions): Promise<AdapterLike | null>;
}

export interface StorageManagerLike {
  estimate?: () => Promise<{ quota?: number; usage?: number }>;
  persisted?: () => Promise<boolean>;
  getDirectory?: () => Promise<unknown>;
}

export interface NavigatorLike {
  readonly gpu?: GpuLike;
  readonly storage?: StorageManagerLike;
  readonly hardwareConcurrency?: number;
  readonly userAgent?: string;
  readonly serviceWorker?: unknown;
}

export interface GlobalsLike {
  readonly crossOriginIsolated?: boolean;
  /** Defined only where pages may share memory between threads (WebKitGTK has none, even when isolated). */
  readonly SharedArrayBuffer?: unknown;
}

export interface DetectOptions {
  /** Upper bound for each browser call, so a stuck driver cannot hang detection. */
  timeoutMs?: number;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    return error.message ? `${error.name}: ${error.message}` : error.name;
  }
  return String(error);
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

async function withTimeout<T>(work: () => Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new TimeoutError(`${what} did not settle within ${String(timeoutMs)} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function summarizeAdapter(adapter: AdapterLike): AdapterSummary {
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false,
  };
}

export function isSoftwareAdapter(adapter: AdapterSummary): boolean {
  if (adapter.isFallbackAdapter) {
    return true;
  }
  return [adapter.vendor, adapter.architecture, adapter.device, adapter.description].some((text) =>
    SOFTWARE_ADAPTER.test(text),
  );
}

function requestedLimits(adapter: AdapterLike): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') {
      limits[name] = value;
    }
  }
  return limits;
}

function summarizeLimits(adapter: AdapterLike): LimitsSummary {
  return {
    maxBufferSize: adapter.limits.maxBufferSize ?? 0,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize ?? 0,
    maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize ?? 0,
  };
}

type GpuFindings = Pick<
  CapabilityReport,
  'hasWebGPU' | 'reason' | 'adapter' | 'isSoftwareAdapter' | 'shaderF16' | 'limits' | 'deviceCreated' | 'deviceError'
>;

function noGpu(reason: string): GpuFindings {
  return {
    hasWebGPU: false,
    reason,
    adapter: null,
    isSoftwareAdapter: false,
    shaderF16: false,
    limits: null,
    deviceCreated: false,
    deviceError: null,
  };
}

async function requestAdapter(gpu: GpuLike, timeoutMs: number): Promise<AdapterLike | string> {
  try {
    const adapter = await withTimeout(
      () => gpu.requestAdapter({ powerPreference: 'high-performance' }),
      timeoutMs,
      'requestAdapter',
    );
    return adapter ?? 'requestAdapter returned null: no suitable GPU adapter (blocklisted or disabled)';
  } catch (error) {
    return `requestAdapter failed: ${describeError(error)}`;
  }
}

/** Creates a device as the engine would, then destroys it; returns the failure, or null on success. */
async function tryCreateDevice(adapter: AdapterLike, shaderF16: boolean, timeoutMs: number): Promise<string | null> {
  // The adapter's real limits, not the defaults (256 MiB buffers would not hold SD-Turbo's weights).
  const descriptor: GPUDeviceDescriptor = {
    requiredFeatures: shaderF16 ? ['shader-f16'] : [],
    requiredLimits: requestedLimits(adapter),
  };
  // A promise, even if requestDevice throws synchronously, so a late device can still be destroyed.
  const pending = Promise.resolve().then(() => adapter.requestDevice(descriptor));
  try {
    const device = await withTimeout(() => pending, timeoutMs, 'requestDevice');
    device.destroy();
    return null;
  } catch (error) {
    // After a timeout the device may still arrive; it must not keep GPU memory for the page's lifetime.
    pending.then(
      (device) => {
        device.destroy();
      },
      () => undefined,
    );
    return describeError(error);
  }
}

async function detectGpu(gpu: GpuLike | undefined, timeoutMs: number): Promise<GpuFindings> {
  if (!gpu) {
    return noGpu('navigator.gpu is missing: this browser does not expose WebGPU');
  }
  const adapter = await requestAdapter(gpu, timeoutMs);
  if (typeof adapter === 'string') {
    return noGpu(adapter);
  }
  const summary = summarizeAdapter(adapter);
  const shaderF16 = adapter.features.has('shader-f16');
  // Creating a device consumes the adapter, so the engine must request its own later.
  const deviceError = await tryCreateDevice(adapter, shaderF16, timeoutMs);
  return {
    hasWebGPU: deviceError === null,
    reason: deviceError === null ? null : `requestDevice failed: ${deviceError}`,
    adapter: summary,
    isSoftwareAdapter: isSoftwareAdapter(summary),
    shaderF16,
    limits: summarizeLimits(adapter),
    deviceCreated: deviceError === null,
    deviceError,
  };
}

async function detectStorage(storage: StorageManagerLike | undefined, timeoutMs: number): Promise<StorageSummary> {
  if (!storage) {
    return { quota: null, usage: null, persisted: null, reason: 'navigator.storage is missing' };
  }
  const reasons: string[] = [];
  let quota: number | null = null;
  let usage: number | null = null;
  let persisted: boolean | null = null;

  const { estimate } = storage;
  if (estimate) {
    try {
      const result = await withTimeout(() => estimate.call(storage), timeoutMs, 'storage.estimate');
      quota = result.quota ?? null;
      usage = result.usage ?? null;
    } catch (error) {
      reasons.push(`storage.estimate failed: ${describeError(error)}`);
    }
  } else {
    reasons.push('storage.estimate is missing');
  }

  const isPersisted = storage.persisted;
  if (isPersisted) {
    try {
      persisted = await withTimeout(() => isPersisted.call(storage), timeoutMs, 'storage.persisted');
    } catch (error) {
      reasons.push(`storage.persisted failed: ${describeError(error)}`);
    }
  } else {
    reasons.push('storage.persisted is missing');
  }

  return { quota, usage, persisted, reason: reasons.length > 0 ? reasons.join('; ') : null };
}

/** Why wasm must run on one thread here, or null when it may use several (the page and the engine's worker). */
export function wasmThreadsReason(globals: GlobalsLike): string | null {
  if (globals.crossOriginIsolated !== true) {
    return 'the page is not cross-origin isolated (the COOP/COEP headers are missing)';
  }
  if (typeof globals.SharedArrayBuffer !== 'function') {
    return 'SharedArrayBuffer is missing, though the page is cross-origin isolated';
  }
  return null;
}

/** Opens the Origin Private File System as the store will; the store's worker also checks it can write there. */
async function detectOpfs(storage: StorageManagerLike | undefined, timeoutMs: number): Promise<string | null> {
  const getDirectory = storage?.getDirectory;
  if (getDirectory === undefined) return NO_OPFS_CAUSE;
  try {
    await withTimeout(() => getDirectory.call(storage), timeoutMs, 'storage.getDirectory');
    return null;
  } catch (error) {
    return refusedOpfsCause(error);
  }
}

export function limitationsOf(
  report: Pick<CapabilityReport, 'hasWebGPU' | 'wasmThreadsReason' | 'opfsReason' | 'serviceWorker'>,
): Limitation[] {
  const found: Limitation[] = [];
  if (!report.hasWebGPU) {
    found.push({ feature: 'webgpu', message: 'No WebGPU here: local drafts run on wasm, on the CPU, and are slower.' });
  }
  if (report.wasmThreadsReason !== null) {
    found.push({
      feature: 'wasm-threads',
      message: `No wasm threads (${report.wasmThreadsReason}): local drafts on wasm use one CPU core.`,
    });
  }
  if (report.opfsReason !== null) {
    found.push({ feature: 'opfs', message: storageUnavailableText(report.opfsReason) });
  }
  if (!report.serviceWorker) {
    found.push({ feature: 'service-worker', message: 'No service workers here: the app cannot start offline.' });
  }
  return found;
}

function defaultNavigator(): NavigatorLike | undefined {
  // Absent in workers of some runtimes and in Node before 21.
  return typeof navigator === 'undefined' ? undefined : navigator;
}

/**
 * Reports what this browser offers for local image generation. Never throws or rejects.
 * Pass fakes of `navigator` and the global object to test; the defaults read the real ones.
 */
export async function detectCapabilities(
  nav: NavigatorLike | undefined = defaultNavigator(),
  globals: GlobalsLike = globalThis,
  options: DetectOptions = {},
): Promise<CapabilityReport> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const [gpu, storage, opfsReason] = await Promise.all([
    detectGpu(nav?.gpu, timeoutMs),
    detectStorage(nav?.storage, timeoutMs),
    detectOpfs(nav?.storage, timeoutMs),
  ]);
  const threads = nav?.hardwareConcurrency;
  const threadsReason = wasmThreadsReason(globals);
  const serviceWorker = nav?.serviceWorker !== undefined;
  return {
    ...gpu,
    crossOriginIsolated: globals.crossOriginIsolated === true,
    wasmThreads: threadsReason === null,
    wasmThreadsReason: threadsReason,
    hardwareConcurrency: typeof threads === 'number' && threads > 0 ? threads : null,
    storage,
    opfs: opfsReason === null,
    opfsReason,
    serviceWorker,
    limitations: limitationsOf({ hasWebGPU: gpu.hasWebGPU, wasmThreadsReason: threadsReason, opfsReason, serviceWorker }),
    userAgent: nav?.userAgent ?? '',
  };
}
