import { describe, expect, it } from 'vitest';
import { EngineError, type EngineErrorCode } from './errors';
import { familyOf, findVariant } from './manifest';
import { validateRequest, type GenerateRequest } from './request';

const variant = findVariant('tiny-sd-turbo');
const limits = { variant, family: familyOf(variant), img2img: true };
const ok: GenerateRequest = { prompt: 'a red fox', seed: 7, steps: 2, width: 64, height: 64 };

function codeOf(request: unknown, img2img = true): EngineErrorCode | 'ok' {
  try {
    validateRequest(request as GenerateRequest, { ...limits, img2img });
    return 'ok';
  } catch (error) {
    if (error instanceof EngineError) return error.code;
    throw error;
  }
}

describe('validateRequest', () => {
  it('fills the defaults from the manifest: 1 step at the default size', () => {
    expect(validateRequest({ prompt: 'x', seed: 0 }, limits)).toMatchObject({ steps: 1, width: 64, height: 64 });
  });

  it('allows an empty prompt (an unconditional image)', () => {
    expect(codeOf({ ...ok, prompt: '' })).toBe('ok');
  });

  it('refuses a prompt that is not a string', () => {
    expect(codeOf({ ...ok, prompt: 42 })).toBe('invalid-prompt');
  });

  it.each([1.5, -1, 2 ** 32, Number.NaN, '7', undefined])('refuses the seed %s', (seed) => {
    expect(codeOf({ ...ok, seed })).toBe('invalid-seed');
  });

  it('accepts the largest seed', () => {
    expect(codeOf({ ...ok, seed: 2 ** 32 - 1 })).toBe('ok');
  });

  it.each([0, 5, 1.5, '2'])('refuses steps %s (1 to 4 only)', (steps) => {
    expect(codeOf({ ...ok, steps })).toBe('invalid-steps');
  });

  const { multiple_of: multiple, min, max } = variant.image;
  it.each([
    ['width', min + multiple / 2],
    ['width', min + 0.5],
    ['height', min - multiple],
    ['height', max + multiple],
    ['width', 0],
  ])('refuses %s %s (a multiple of the model\'s step within its range)', (name, value) => {
    expect(codeOf({ ...ok, [name]: value })).toBe('invalid-size');
  });

  it('names the allowed range in the message', () => {
    expect(() => validateRequest({ ...ok, width: 65 }, limits)).toThrow(
      `width must be a multiple of ${String(multiple)} from ${String(min)} to ${String(max)}, got 65`,
    );
  });

  const image = new Float32Array(64 * 64 * 3).fill(0.5);

  it.each([0, -0.1, 1.01, Number.NaN])('refuses strength %s outside (0, 1]', (strength) => {
    expect(codeOf({ ...ok, initImage: image, strength })).toBe('invalid-strength');
  });

  it('refuses a strength that leaves no step to run', () => {
    expect(codeOf({ ...ok, steps: 2, initImage: image, strength: 0.3 })).toBe('invalid-strength');
  });

  it('refuses a strength without an init image', () => {
    expect(codeOf({ ...ok, strength: 0.5 })).toBe('invalid-strength');
  });

  it('accepts img2img with strength 1', () => {
    expect(codeOf({ ...ok, initImage: image, strength: 1 })).toBe('ok');
  });

  it('refuses img2img on a model without a VAE encoder', () => {
    expect(codeOf({ ...ok, initImage: image, strength: 0.5 }, false)).toBe('unsupported-by-model');
  });

  it('refuses an init image of the wrong size or out of [0, 1]', () => {
    expect(codeOf({ ...ok, initImage: new Float32Array(10), strength: 0.5 })).toBe('invalid-init-image');
    expect(codeOf({ ...ok, initImage: image.map(() => 2), strength: 0.5 })).toBe('invalid-init-image');
  });

  it('refuses latents of the wrong shape or with NaN', () => {
    expect(codeOf({ ...ok, latents: new Float32Array(4 * 8 * 8 - 1) })).toBe('invalid-latents');
    expect(codeOf({ ...ok, latents: new Float32Array(4 * 8 * 8).fill(Number.NaN) })).toBe('invalid-latents');
    expect(codeOf({ ...ok, latents: new Float32Array(4 * 8 * 8) })).toBe('ok');
  });
});
