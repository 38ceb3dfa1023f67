import { describe, expect, it } from 'vitest';
import { familyOf, findVariant } from './manifest';
import { effectivePerf, fixesImageSize, sessionOptions } from './pipeline';

const full = findVariant('sd-turbo-fp16');
const draft = findVariant('sd-turbo-fp16-taesd');
const family = familyOf(full);
const size = { width: 768, height: 512 };
const DECODER = 'vae_decoder/model.onnx';
const UNET = 'unet/model.onnx';

describe('session options', () => {
  it('run fp16 WebGPU in NHWC with every dimension fixed for the requested size', () => {
    const options = sessionOptions('webgpu-f16', UNET, full, family, size);
    expect(options.executionProviders).toEqual([{ name: 'webgpu', preferredLayout: 'NHWC' }]);
    expect(options.freeDimensionOverrides).toMatchObject({ batch: 1, height: 64, width: 96, image_height: 512, image_width: 768 });
  });

  it("also fix the ORT demo models' dimension names", () => {
    const options = sessionOptions('webgpu-f16', UNET, full, family, size);
    expect(options.freeDimensionOverrides).toMatchObject({ height_latent: 64, width_latent: 96, sequence_length: 77 });
  });

  it('switch ConvActivationFusion off for the fp16 TAESD decoder only', () => {
    const off = { optimization: { disable_specified_optimizers: 'ConvActivationFusion' } };
    expect(sessionOptions('webgpu-f16', DECODER, draft, family, size).extra).toEqual(off);
    expect(sessionOptions('webgpu-f16', UNET, draft, family, size).extra).toBeUndefined();
    expect(sessionOptions('webgpu-f16', DECODER, full, family, size).extra).toBeUndefined();
  });

  it('keep NCHW and free sizes on fp32 WebGPU, as the oracle tests prove on SwiftShader', () => {
    const options = sessionOptions('webgpu', UNET, findVariant('tiny-sd-turbo'), family, undefined, ['out']);
    expect(options.executionProviders).toEqual([{ name: 'webgpu', preferredLayout: 'NCHW' }]);
    expect(options.freeDimensionOverrides).not.toHaveProperty('height');
    expect(options.preferredOutputLocation).toEqual({ out: 'gpu-buffer' });
  });

  it('keep free sizes on wasm', () => {
    const options = sessionOptions('wasm', DECODER, findVariant('tiny-sd-turbo-taesd'), family, size);
    expect(options.executionProviders).toEqual(['wasm']);
    expect(options.freeDimensionOverrides).not.toHaveProperty('height');
  });

  it('make only fp16 WebGPU sessions per image size', () => {
    expect(['webgpu-f16', 'webgpu', 'wasm'].map((b) => fixesImageSize(b as 'webgpu'))).toEqual([true, false, false]);
  });

  it('refuse to make an fp16 WebGPU session without a size', () => {
    expect(() => sessionOptions('webgpu-f16', UNET, full, family, undefined)).toThrow(/one image size/);
  });
});

describe('performance routes', () => {
  it('keep latents on the GPU on both WebGPU backends and never on wasm', () => {
    expect(effectivePerf('webgpu').gpuLatents).toBe(true);
    expect(effectivePerf('webgpu-f16').gpuLatents).toBe(true);
    expect(effectivePerf('wasm', { gpuLatents: true }).gpuLatents).toBe(false);
  });

  it('capture graphs only where sessions are made for one size and latents stay on the GPU', () => {
    expect(effectivePerf('webgpu-f16', { graphCapture: true }).graphCapture).toBe(true);
    expect(effectivePerf('webgpu', { graphCapture: true }).graphCapture).toBe(false);
    expect(effectivePerf('webgpu-f16', { graphCapture: true, gpuLatents: false }).graphCapture).toBe(false);
  });

  it('ask ORT for graph capture and every output on the GPU for a captured graph', () => {
    const options = sessionOptions('webgpu-f16', UNET, full, family, size, 'all', true);
    expect(options.enableGraphCapture).toBe(true);
    expect(options.preferredOutputLocation).toBe('gpu-buffer');
  });
});
