import { describe, expect, it } from 'vitest';
import { checkOutput, checkSumOfSquares } from './checks';

describe('checkOutput', () => {
  it('refuses all zeros, as an fp16 graph without shader-f16 returns', () => {
    expect(() => {
      checkOutput('vae_decoder', new Float32Array(12));
    }).toThrow('vae_decoder produced all zeros');
  });

  it('refuses NaN and Inf, counting them', () => {
    expect(() => {
      checkOutput('unet', Float32Array.of(1, NaN, 2));
    }).toThrow('unet produced NaN values (1 of 3)');
    expect(() => {
      checkOutput('unet', Float32Array.of(1, Infinity));
    }).toThrow(/Inf values/);
  });

  it('accepts ordinary values', () => {
    expect(() => {
      checkOutput('unet', Float32Array.of(0, -0.5, 3));
    }).not.toThrow();
  });
});

describe('checkSumOfSquares (the guard of a tensor kept on the GPU)', () => {
  it('refuses a zero sum: the tensor was all zeros', () => {
    expect(() => {
      checkSumOfSquares('unet step 1', 0);
    }).toThrow('unet step 1 produced all zeros');
  });

  it('refuses NaN and Inf sums', () => {
    expect(() => {
      checkSumOfSquares('text_encoder', NaN);
    }).toThrow('text_encoder produced NaN values');
    expect(() => {
      checkSumOfSquares('text_encoder', Infinity);
    }).toThrow(/Inf values/);
  });

  it('accepts a positive finite sum', () => {
    expect(() => {
      checkSumOfSquares('unet step 1', 1234.5);
    }).not.toThrow();
  });
});
