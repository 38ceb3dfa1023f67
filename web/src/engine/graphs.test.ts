import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { eulerStepGraph, sumOfSquaresGraph } from './graphs';
import { eulerStep, latentsToVae, scaleModelInput } from './scheduler';

const f32 = (values: number[], dims: number[]): ort.Tensor => new ort.Tensor('float32', Float32Array.from(values), dims);

describe('the Euler step graph', () => {
  it("computes the CPU scheduler's step, next UNet input and decoder input", async () => {
    const session = await ort.InferenceSession.create(eulerStepGraph(), { executionProviders: ['wasm'] });
    const latents = [0.5, -1.25, 3, 14.6, -7, 0.01, 2, -0.3];
    const eps = [0.1, 0.7, -1.2, 1, 0.33, -2, 0.05, 0.9];
    const [sigma, sigmaNext, scaling] = [14.614642, 3.2, 0.18215];
    const out = await session.run({
      latents: f32(latents, [1, 2, 2, 2]),
      noise_pred: f32(eps, [1, 2, 2, 2]),
      dt: f32([sigmaNext - sigma], [1]),
      model_denom: f32([Math.sqrt(sigmaNext * sigmaNext + 1)], [1]),
      scaling_factor: f32([scaling], [1]),
    });
    const next = eulerStep(Float32Array.from(latents), Float32Array.from(eps), sigma, sigmaNext);
    const close = (got: ort.Tensor | undefined, want: Float32Array): void => {
      expect(got?.dims).toEqual([1, 2, 2, 2]);
      Array.from(got?.data as Float32Array).forEach((v, i) => {
        expect(v).toBeCloseTo(want[i] ?? NaN, 4);
      });
    };
    close(out.next_latents, next);
    close(out.model_input, scaleModelInput(next, sigmaNext));
    close(out.vae_input, latentsToVae(next, scaling));
  });
});

describe('the sum-of-squares guard graph', () => {
  const sumSq = async (values: number[]): Promise<number> => {
    const session = await ort.InferenceSession.create(sumOfSquaresGraph(), { executionProviders: ['wasm'] });
    const out = await session.run({ x: f32(values, [1, values.length / 2, 2]) });
    return (out.sum_sq?.data as Float32Array)[0] ?? NaN;
  };

  it('is the sum of squares of a finite tensor', async () => {
    expect(await sumSq([1, -2, 3, 0.5])).toBeCloseTo(14.25, 5);
  });

  it('is 0 for an all-zero tensor', async () => {
    expect(await sumSq([0, 0, 0, 0])).toBe(0);
  });

  it('is NaN when one value is NaN', async () => {
    expect(await sumSq([1, NaN, 3, 4])).toBeNaN();
  });

  it('is Infinity when one value is infinite', async () => {
    expect(await sumSq([1, -Infinity, 3, 4])).toBe(Infinity);
  });
});
