import { describe, expect, it } from 'vitest';
import { chooseBackend, type BackendSupport } from './backend';
import { EngineError } from './errors';
import { findVariant } from './manifest';

const swiftshader: BackendSupport = {
  hasWebGPU: true,
  shaderF16: false,
  isSoftwareAdapter: true,
  adapterName: 'swiftshader',
  webgpuReason: null,
};
const realGpu: BackendSupport = { ...swiftshader, shaderF16: true, isSoftwareAdapter: false, adapterName: 'ampere' };
const gpuWithoutF16: BackendSupport = { ...realGpu, shaderF16: false };
const noGpu: BackendSupport = { ...swiftshader, hasWebGPU: false, webgpuReason: 'requestAdapter returned null' };

const fp16 = findVariant('tiny-sd-turbo-fp16');
const fp32 = findVariant('tiny-sd-turbo');

describe('chooseBackend', () => {
  it('runs fp16 on WebGPU when the adapter has shader-f16', () => {
    expect(chooseBackend(fp16, realGpu)).toMatchObject({ variant: fp16, backend: 'webgpu-f16', reason: null });
  });

  it('refuses fp16 without shader-f16 and runs the fp32 fallback, saying why', () => {
    const choice = chooseBackend(fp16, gpuWithoutF16);
    expect(choice.variant.id).toBe('tiny-sd-turbo');
    expect(choice.backend).toBe('webgpu');
    expect(choice.reason).toMatch(/tiny-sd-turbo-fp16 refused: .*shader-f16/);
  });

  it('prefers wasm over a software adapter, for fp16 requests too', () => {
    const choice = chooseBackend(fp16, swiftshader);
    expect([choice.variant.id, choice.backend]).toEqual(['tiny-sd-turbo', 'wasm']);
    expect(choice.reason).toMatch(/shader-f16.*swiftshader/);
  });

  it('runs fp32 on wasm without WebGPU', () => {
    expect(chooseBackend(fp32, noGpu)).toMatchObject({ backend: 'wasm', reason: null });
  });

  it('honours a forced backend that works here', () => {
    expect(chooseBackend(fp32, swiftshader, 'webgpu')).toMatchObject({ backend: 'webgpu', reason: null });
  });

  it('refuses to force fp16 on an adapter without shader-f16 with a typed error', () => {
    expect(() => chooseBackend(fp16, swiftshader, 'webgpu-f16')).toThrow(EngineError);
    expect(() => chooseBackend(fp16, swiftshader, 'webgpu-f16')).toThrow(/shader-f16/);
  });

  it('refuses to force a backend the model was not built for', () => {
    expect(() => chooseBackend(fp16, realGpu, 'wasm')).toThrow(/runs on webgpu-f16, not on wasm/);
  });

  it('refuses to force WebGPU where there is none', () => {
    expect(() => chooseBackend(fp32, noGpu, 'webgpu')).toThrow(/WebGPU is unavailable/);
  });
});
