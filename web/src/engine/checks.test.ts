import { describe, expect, it } from 'vitest';
import { checkOutput } from './checks';

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
