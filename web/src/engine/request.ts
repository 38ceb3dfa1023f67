/**
 * What a caller asks for, and the checks that turn a bad request into a clear EngineError
 * (mirror of turbodraft/pipeline/request.py, same limits and wording).
 */
import { EngineError } from './errors';
import type { Family, ModelVariant } from './manifest';

export const SEED_LIMIT = 2 ** 32;

export interface GenerateRequest {
  readonly prompt: string;
  /** An integer in [0, 2**32); the same seed gives the same latents as the Python twin. */
  readonly seed: number;
  /** 1 to the model's max_steps; default 1. */
  readonly steps?: number;
  /** Pixels; default the model's default size. */
  readonly width?: number;
  readonly height?: number;
  /** A manifest variant id; default the engine's default model. */
  readonly model?: string;
  /** img2img source: float32 HWC [height, width, 3] in [0, 1], already at width x height. */
  readonly initImage?: Float32Array;
  /** img2img only: the share of the schedule that runs, in (0, 1]. */
  readonly strength?: number;
  /** Unscaled standard-normal latents [1, 4, height/8, width/8] (img2img: the noise); default randn(seed). */
  readonly latents?: Float32Array;
}

/** A request with defaults filled in and every field checked. */
export interface ValidRequest {
  readonly prompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly width: number;
  readonly height: number;
  readonly initImage: Float32Array | undefined;
  readonly strength: number | undefined;
  readonly latents: Float32Array | undefined;
}

export interface ModelLimits {
  readonly variant: ModelVariant;
  readonly family: Family;
  /** The model's files include a VAE encoder (img2img possible). */
  readonly img2img: boolean;
}

const describe = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return typeof value;
};

export function validateRequest(request: GenerateRequest, limits: ModelLimits): ValidRequest {
  const raw: unknown = request; // from JavaScript callers, anything may arrive
  if (typeof raw !== 'object' || raw === null) {
    throw new EngineError('invalid-prompt', 'a request must be an object with at least prompt and seed');
  }
  const { variant, family } = limits;
  const prompt: unknown = request.prompt;
  if (typeof prompt !== 'string') throw new EngineError('invalid-prompt', `prompt must be a string, got ${describe(prompt)}`);
  const seed: unknown = request.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= SEED_LIMIT) {
    throw new EngineError('invalid-seed', `seed must be an integer in [0, 2**32), got ${describe(seed)}`);
  }
  const steps: unknown = request.steps ?? 1;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > variant.max_steps) {
    throw new EngineError(
      'invalid-steps',
      `steps must be an integer from 1 to ${String(variant.max_steps)}, got ${describe(steps)}`,
    );
  }
  const width = checkSize('width', request.width ?? variant.image.default, variant);
  const height = checkSize('height', request.height ?? variant.image.default, variant);
  const { initImage, strength } = checkImg2img(request, limits, width, height, steps);
  const latents = request.latents;
  if (latents !== undefined) {
    const d = family.vae.downscale;
    const shape = [1, family.vae.latent_channels, height / d, width / d];
    checkArray(latents, shape, 'latents', 'invalid-latents');
  }
  return { prompt, seed, steps, width, height, initImage, strength, latents };
}

function checkSize(name: string, value: unknown, variant: ModelVariant): number {
  const r = variant.image;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < r.min || value > r.max || value % r.multiple_of !== 0) {
    throw new EngineError(
      'invalid-size',
      `${name} must be a multiple of ${String(r.multiple_of)} from ${String(r.min)} to ${String(r.max)}, got ${describe(value)}`,
    );
  }
  return value;
}

function checkImg2img(
  request: GenerateRequest,
  limits: ModelLimits,
  width: number,
  height: number,
  steps: number,
): { initImage: Float32Array | undefined; strength: number | undefined } {
  const strength: unknown = request.strength;
  const initImage: unknown = request.initImage;
  if (initImage === undefined || initImage === null) {
    if (strength !== undefined && strength !== null) {
      throw new EngineError('invalid-strength', 'strength applies only with an init image (img2img)');
    }
    return { initImage: undefined, strength: undefined };
  }
  if (!limits.img2img) {
    throw new EngineError(
      'unsupported-by-model',
      `model ${limits.variant.id} has no vae_encoder/model.onnx, so it cannot do img2img`,
    );
  }
  if (strength === undefined || strength === null) throw new EngineError('invalid-strength', 'img2img needs a strength in (0, 1]');
  if (typeof strength !== 'number' || Number.isNaN(strength) || !(strength > 0 && strength <= 1)) {
    throw new EngineError('invalid-strength', `strength must be a number in (0, 1], got ${describe(strength)}`);
  }
  if (Math.min(Math.floor(steps * strength), steps) < 1) {
    throw new EngineError(
      'invalid-strength',
      `steps * strength must be at least 1 (got ${String(steps)} * ${String(strength)}); raise the steps or the strength`,
    );
  }
  checkArray(initImage, [height, width, 3], 'init image', 'invalid-init-image');
  for (const v of initImage) {
    if (v < 0 || v > 1) throw new EngineError('invalid-init-image', 'init image values must lie in [0, 1]');
  }
  return { initImage, strength };
}

function checkArray(
  array: unknown,
  shape: readonly number[],
  name: string,
  code: 'invalid-latents' | 'invalid-init-image',
): asserts array is Float32Array {
  if (!(array instanceof Float32Array)) throw new EngineError(code, `${name} must be a Float32Array`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (array.length !== size) {
    throw new EngineError(code, `${name} must have shape [${shape.join(', ')}] (${String(size)} values), got ${String(array.length)}`);
  }
  for (const v of array) {
    if (!Number.isFinite(v)) throw new EngineError(code, `${name} contains NaN or Inf`);
  }
}
