/**
 * The engine's WebGPU adapter. ORT-web's JSEP backend (1.30) always creates its own device from the adapter in
 * `ort.env.webgpu.adapter` (a device set in `env.webgpu.device` is ignored), requesting the adapter's real limits
 * and shader-f16 where present; the engine hands it the adapter it judged, then reads the device back
 * (`deviceLimits`) to check the limits and to watch for loss.
 */
import type { BackendSupport } from './backend';
import { REQUESTED_LIMITS, describeError, isSoftwareAdapter } from './capabilities';

export interface AcquiredAdapter {
  readonly adapter: GPUAdapter | null;
  readonly support: BackendSupport;
}

function noWebGpu(reason: string): AcquiredAdapter {
  return {
    adapter: null,
    support: { hasWebGPU: false, shaderF16: false, isSoftwareAdapter: false, adapterName: '', webgpuReason: reason },
  };
}

export async function acquireAdapter(gpu: GPU | undefined): Promise<AcquiredAdapter> {
  if (gpu === undefined) return noWebGpu('navigator.gpu is missing');
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return noWebGpu(`requestAdapter failed: ${describeError(error)}`);
  }
  if (adapter === null) return noWebGpu('requestAdapter returned null (WebGPU disabled or no usable adapter)');
  const info = adapter.info;
  const summary = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter,
  };
  return {
    adapter,
    support: {
      hasWebGPU: true,
      shaderF16: adapter.features.has('shader-f16'),
      isSoftwareAdapter: isSoftwareAdapter(summary),
      adapterName: summary.architecture || summary.vendor || summary.description || 'unnamed adapter',
      webgpuReason: null,
    },
  };
}

/** The limits that matter for large weights, as granted to `device` next to what `adapter` offers. */
export function limitsReport(
  adapter: GPUAdapter,
  device: GPUDevice,
): Record<string, { adapter: number; device: number }> {
  const out: Record<string, { adapter: number; device: number }> = {};
  for (const name of REQUESTED_LIMITS) out[name] = { adapter: adapter.limits[name], device: device.limits[name] };
  return out;
}
