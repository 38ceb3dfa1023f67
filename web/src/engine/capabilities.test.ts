import { describe, expect, it, vi } from 'vitest';
import {
  type AdapterInfoLike,
  type AdapterLike,
  type DeviceLike,
  type GpuLike,
  type NavigatorLike,
  type RequestedLimit,
  type StorageManagerLike,
  detectCapabilities,
  limitationsOf,
} from './capabilities';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

// Limits reported by Chromium's SwiftShader adapter on the CI machines (browser-diffusion.md).
const SWIFTSHADER_LIMITS: Record<RequestedLimit, number> = {
  maxBufferSize: GiB,
  maxStorageBufferBindingSize: GiB,
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxComputeWorkgroupsPerDimension: 65535,
};

const SWIFTSHADER_INFO: AdapterInfoLike = {
  vendor: 'google',
  architecture: 'swiftshader',
  device: '',
  description: 'SwiftShader device (Subzero)',
  isFallbackAdapter: true,
};

const RTX_INFO: AdapterInfoLike = {
  vendor: 'nvidia',
  architecture: 'ada',
  device: '',
  description: 'NVIDIA GeForce RTX 4090',
  isFallbackAdapter: false,
};

const RTX_LIMITS: Record<RequestedLimit, number> = {
  ...SWIFTSHADER_LIMITS,
  maxBufferSize: 4 * GiB,
  maxStorageBufferBindingSize: 2 * GiB - 4,
};

interface FakeAdapter extends AdapterLike {
  readonly deviceRequests: (GPUDeviceDescriptor | undefined)[];
  readonly destroyedDevices: number;
}

function fakeAdapter(
  overrides: {
    info?: AdapterInfoLike;
    isFallbackAdapter?: boolean;
    features?: string[];
    limits?: Partial<Record<RequestedLimit, number>>;
    requestDevice?: () => Promise<DeviceLike>;
  } = {},
): FakeAdapter {
  const deviceRequests: (GPUDeviceDescriptor | undefined)[] = [];
  let destroyedDevices = 0;
  const features = new Set(overrides.features ?? []);
  return {
    ...('info' in overrides ? { info: overrides.info } : { info: RTX_INFO }),
    ...(overrides.isFallbackAdapter === undefined ? {} : { isFallbackAdapter: overrides.isFallbackAdapter }),
    features,
    limits: overrides.limits ?? RTX_LIMITS,
    deviceRequests,
    get destroyedDevices() {
      return destroyedDevices;
    },
    requestDevice(descriptor?: GPUDeviceDescriptor): Promise<DeviceLike> {
      deviceRequests.push(descriptor);
      if (overrides.requestDevice) {
        return overrides.requestDevice();
      }
      return Promise.resolve({
        destroy() {
          destroyedDevices += 1;
        },
      });
    },
  };
}

function gpuReturning(adapter: AdapterLike | null): GpuLike {
  return { requestAdapter: () => Promise.resolve(adapter) };
}

const WORKING_STORAGE: StorageManagerLike = {
  estimate: () => Promise.resolve({ quota: 10 * GiB, usage: 3 * MiB }),
  persisted: () => Promise.resolve(true),
};

function browser(overrides: Partial<NavigatorLike> = {}): NavigatorLike {
  return {
    gpu: gpuReturning(fakeAdapter()),
    storage: WORKING_STORAGE,
    hardwareConcurrency: 8,
    userAgent: 'FakeBrowser/1.0',
    ...overrides,
  };
}

const ISOLATED = { crossOriginIsolated: true };

describe('detectCapabilities', () => {
  it('reports no WebGPU, with a reason, when navigator.gpu is missing', async () => {
    const report = await detectCapabilities(browser({ gpu: undefined }), ISOLATED);

    expect(report.hasWebGPU).toBe(false);
    expect(report.reason).toMatch(/navigator\.gpu is missing/);
    expect(report.adapter).toBeNull();
    expect(report.deviceCreated).toBe(false);
  });

  it('reports no WebGPU when requestAdapter resolves to null', async () => {
    const report = await detectCapabilities(browser({ gpu: gpuReturning(null) }), ISOLATED);

    expect(report.hasWebGPU).toBe(false);
    expect(report.reason).toMatch(/requestAdapter returned null/);
  });

  it('turns a throwing requestAdapter into a reason instead of rejecting', async () => {
    const gpu: GpuLike = { requestAdapter: () => Promise.reject(new TypeError('adapter exploded')) };

    const report = await detectCapabilities(browser({ gpu }), ISOLATED);

    expect(report.hasWebGPU).toBe(false);
    expect(report.reason).toBe('requestAdapter failed: TypeError: adapter exploded');
  });

  it('turns a synchronous throw that is not an Error into a reason', async () => {
    const gpu: GpuLike = {
      requestAdapter: () => {
        // Some embedders throw plain strings.
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        throw 'gpu process crashed';
      },
    };

    const report = await detectCapabilities(browser({ gpu }), ISOLATED);

    expect(report.reason).toBe('requestAdapter failed: gpu process crashed');
  });

  it('gives up on a requestAdapter that never settles', async () => {
    const gpu: GpuLike = { requestAdapter: () => new Promise<never>(() => undefined) };

    const report = await detectCapabilities(browser({ gpu }), ISOLATED, { timeoutMs: 20 });

    expect(report.hasWebGPU).toBe(false);
    expect(report.reason).toBe('requestAdapter failed: TimeoutError: requestAdapter did not settle within 20 ms');
  });

  it('reports a failing requestDevice as deviceError while keeping the adapter details', async () => {
    const adapter = fakeAdapter({
      requestDevice: () => Promise.reject(new DOMException('limit exceeds adapter', 'OperationError')),
    });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.hasWebGPU).toBe(false);
    expect(report.deviceCreated).toBe(false);
    expect(report.deviceError).toBe('OperationError: limit exceeds adapter');
    expect(report.reason).toBe('requestDevice failed: OperationError: limit exceeds adapter');
    expect(report.adapter?.vendor).toBe('nvidia');
  });

  it('requests the adapter real limits from requestDevice', async () => {
    const adapter = fakeAdapter({ limits: RTX_LIMITS });

    await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(adapter.deviceRequests).toHaveLength(1);
    expect(adapter.deviceRequests[0]?.requiredLimits).toEqual(RTX_LIMITS);
  });

  it('requests only the limits the adapter reports', async () => {
    const adapter = fakeAdapter({ limits: { maxBufferSize: GiB } });

    await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(adapter.deviceRequests[0]?.requiredLimits).toEqual({ maxBufferSize: GiB });
  });

  it('requests shader-f16 when the adapter has it', async () => {
    const adapter = fakeAdapter({ features: ['shader-f16', 'timestamp-query'] });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.shaderF16).toBe(true);
    expect(adapter.deviceRequests[0]?.requiredFeatures).toEqual(['shader-f16']);
  });

  it('reports no shader-f16 and requests no features when the adapter lacks it', async () => {
    const adapter = fakeAdapter({ features: [] });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.shaderF16).toBe(false);
    expect(adapter.deviceRequests[0]?.requiredFeatures).toEqual([]);
    expect(report.hasWebGPU).toBe(true);
  });

  it('destroys the device it created', async () => {
    const adapter = fakeAdapter();

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.deviceCreated).toBe(true);
    expect(adapter.destroyedDevices).toBe(1);
  });

  it('flags the SwiftShader fallback adapter as software', async () => {
    const adapter = fakeAdapter({ info: SWIFTSHADER_INFO, limits: SWIFTSHADER_LIMITS });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.hasWebGPU).toBe(true);
    expect(report.isSoftwareAdapter).toBe(true);
    expect(report.adapter).toEqual(SWIFTSHADER_INFO);
  });

  it.each([
    ['llvmpipe', { vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }],
    ['lavapipe', { vendor: 'mesa', architecture: 'lavapipe', description: '' }],
    ['Microsoft Basic Render', { vendor: 'microsoft', description: 'Microsoft Basic Render Driver' }],
  ])('flags a %s adapter as software even when it is not marked fallback', async (_name, info) => {
    const adapter = fakeAdapter({ info: { ...info, isFallbackAdapter: false } });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.isSoftwareAdapter).toBe(true);
  });

  it('reads isFallbackAdapter from the adapter when its info lacks it', async () => {
    const adapter = fakeAdapter({ info: { vendor: 'google', architecture: '' }, isFallbackAdapter: true });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.adapter?.isFallbackAdapter).toBe(true);
    expect(report.isSoftwareAdapter).toBe(true);
  });

  it('reports empty adapter details when the browser predates adapter.info', async () => {
    const adapter = fakeAdapter({ info: undefined });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report.adapter).toEqual({
      vendor: '',
      architecture: '',
      device: '',
      description: '',
      isFallbackAdapter: false,
    });
  });

  it('reports a discrete GPU with shader-f16 as usable hardware', async () => {
    const adapter = fakeAdapter({ info: RTX_INFO, features: ['shader-f16'], limits: RTX_LIMITS });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED);

    expect(report).toMatchObject({
      hasWebGPU: true,
      reason: null,
      isSoftwareAdapter: false,
      shaderF16: true,
      deviceCreated: true,
      deviceError: null,
      limits: {
        maxBufferSize: 4 * GiB,
        maxStorageBufferBindingSize: 2 * GiB - 4,
        maxComputeWorkgroupStorageSize: 32768,
      },
    });
    expect(report.adapter?.description).toBe('NVIDIA GeForce RTX 4090');
  });

  it('reads storage quota, usage and persistence', async () => {
    const report = await detectCapabilities(browser({ storage: WORKING_STORAGE }), ISOLATED);

    expect(report.storage).toEqual({ quota: 10 * GiB, usage: 3 * MiB, persisted: true, reason: null });
  });

  it('reports unknown storage, with a reason, when navigator.storage is missing', async () => {
    const report = await detectCapabilities(browser({ storage: undefined }), ISOLATED);

    expect(report.storage).toEqual({
      quota: null,
      usage: null,
      persisted: null,
      reason: 'navigator.storage is missing',
    });
  });

  it('keeps the storage estimate when persisted() is missing', async () => {
    const storage: StorageManagerLike = { estimate: () => Promise.resolve({ quota: GiB, usage: 0 }) };

    const report = await detectCapabilities(browser({ storage }), ISOLATED);

    expect(report.storage).toEqual({
      quota: GiB,
      usage: 0,
      persisted: null,
      reason: 'storage.persisted is missing',
    });
  });

  it('turns a rejecting storage estimate into a reason', async () => {
    const storage: StorageManagerLike = {
      estimate: () => Promise.reject(new DOMException('denied', 'SecurityError')),
      persisted: () => Promise.resolve(false),
    };

    const report = await detectCapabilities(browser({ storage }), ISOLATED);

    expect(report.storage).toEqual({
      quota: null,
      usage: null,
      persisted: false,
      reason: 'storage.estimate failed: SecurityError: denied',
    });
  });

  it('reports cross-origin isolation from the global object', async () => {
    const isolated = await detectCapabilities(browser(), { crossOriginIsolated: true });
    const notIsolated = await detectCapabilities(browser(), {});

    expect(isolated.crossOriginIsolated).toBe(true);
    expect(notIsolated.crossOriginIsolated).toBe(false);
  });

  it('reports thread count and user agent from the navigator', async () => {
    const report = await detectCapabilities(
      browser({ hardwareConcurrency: 12, userAgent: 'Chrome/150' }),
      ISOLATED,
    );

    expect(report.hardwareConcurrency).toBe(12);
    expect(report.userAgent).toBe('Chrome/150');
  });

  it('destroys a device that arrives after requestDevice timed out', async () => {
    let destroyed = false;
    let deliver: (device: DeviceLike) => void = () => undefined;
    const adapter = fakeAdapter({
      requestDevice: () =>
        new Promise<DeviceLike>((resolve) => {
          deliver = resolve;
        }),
    });

    const report = await detectCapabilities(browser({ gpu: gpuReturning(adapter) }), ISOLATED, { timeoutMs: 20 });
    deliver({
      destroy() {
        destroyed = true;
      },
    });

    expect(report.deviceError).toBe('TimeoutError: requestDevice did not settle within 20 ms');
    await vi.waitFor(() => {
      expect(destroyed).toBe(true);
    });
  });

  it('reports everything unknown, without throwing, when the navigator exposes none of the APIs', async () => {
    const report = await detectCapabilities({}, {});

    expect(report).toMatchObject({
      hasWebGPU: false,
      crossOriginIsolated: false,
      hardwareConcurrency: null,
      userAgent: '',
      storage: { quota: null, usage: null, persisted: null },
    });
    expect(report.reason).not.toBeNull();
  });

  it('reports wasm threads only where shared memory exists, not from isolation alone', async () => {
    const full = await detectCapabilities(browser(), { crossOriginIsolated: true, SharedArrayBuffer });
    // WebKitGTK: cross-origin isolated, yet no SharedArrayBuffer.
    const webkit = await detectCapabilities(browser(), { crossOriginIsolated: true });
    const notIsolated = await detectCapabilities(browser(), { SharedArrayBuffer });

    expect([full.wasmThreads, full.wasmThreadsReason]).toEqual([true, null]);
    expect(webkit.wasmThreads).toBe(false);
    expect(webkit.wasmThreadsReason).toMatch(/SharedArrayBuffer is missing/);
    expect(notIsolated.wasmThreadsReason).toMatch(/not cross-origin isolated/);
  });

  it('reports OPFS when getDirectory opens, and why not when it is missing or refused', async () => {
    const opens = await detectCapabilities(
      browser({ storage: { ...WORKING_STORAGE, getDirectory: () => Promise.resolve({}) } }),
      ISOLATED,
    );
    const missing = await detectCapabilities(browser({ storage: WORKING_STORAGE }), ISOLATED);
    const refused = await detectCapabilities(
      browser({
        storage: { ...WORKING_STORAGE, getDirectory: () => Promise.reject(new DOMException('transient', 'UnknownError')) },
      }),
      ISOLATED,
    );

    expect([opens.opfs, opens.opfsReason]).toEqual([true, null]);
    expect(missing.opfs).toBe(false);
    expect(missing.opfsReason).toMatch(/no Origin Private File System/);
    expect(refused.opfs).toBe(false);
    expect(refused.opfsReason).toMatch(/refused its Origin Private File System.*UnknownError: transient/);
  });

  it('reports service workers from the navigator', async () => {
    expect((await detectCapabilities(browser({ serviceWorker: {} }), ISOLATED)).serviceWorker).toBe(true);
    expect((await detectCapabilities(browser(), ISOLATED)).serviceWorker).toBe(false);
  });

  it('lists nothing missing for a browser with everything', () => {
    const all = { hasWebGPU: true, wasmThreadsReason: null, opfsReason: null, serviceWorker: true };

    expect(limitationsOf(all)).toEqual([]);
  });

  it('lists each missing feature with what the user gets instead', async () => {
    const report = await detectCapabilities(browser({ gpu: undefined, storage: WORKING_STORAGE }), ISOLATED);

    expect(report.limitations.map((l) => l.feature)).toEqual(['webgpu', 'wasm-threads', 'opfs', 'service-worker']);
    const [webgpu, threads, opfs, worker] = report.limitations.map((l) => l.message);
    expect(webgpu).toMatch(/local drafts run on wasm/);
    expect(threads).toMatch(/use one CPU core/);
    expect(opfs).toMatch(/^Models cannot be stored in this browser: .*read the model from the gateway each time/);
    expect(worker).toMatch(/cannot start offline/);
  });
});
