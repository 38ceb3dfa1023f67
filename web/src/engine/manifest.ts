/**
 * The model manifest shared with the Python twin (src/turbodraft/models/manifest.json): the scheduler constants,
 * tokenizer ids and size limits come from that one file so both twins compute the same image.
 */
import manifestJson from '../../../src/turbodraft/models/manifest.json';
import { EngineError } from './errors';

export type BackendName = 'webgpu-f16' | 'webgpu' | 'wasm';

export interface SchedulerConstants {
  readonly num_train_timesteps: number;
  readonly beta_start: number;
  readonly beta_end: number;
  readonly beta_schedule: 'scaled_linear' | 'linear';
  readonly prediction_type: 'epsilon';
  readonly timestep_spacing: 'trailing' | 'linspace' | 'leading';
  readonly steps_offset: number;
}

export interface TokenizerConstants {
  readonly pad_token_id: number;
  readonly bos_token_id: number;
  readonly eos_token_id: number;
  readonly max_length: number;
}

export interface VaeConstants {
  readonly scaling_factor: number;
  readonly latent_channels: number;
  readonly downscale: number;
}

export interface Family {
  readonly scheduler: SchedulerConstants;
  readonly tokenizer: TokenizerConstants;
  readonly vae: VaeConstants;
}

export interface SizeRange {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly multiple_of: number;
}

export interface ModelVariant {
  readonly id: string;
  readonly family: string;
  readonly dtype: string;
  readonly backends: readonly BackendName[];
  readonly image: SizeRange;
  readonly max_steps: number;
  readonly img2img: boolean;
  /** The variant to run instead when none of `backends` is usable here (e.g. fp16 without shader-f16). */
  readonly fallback?: string;
  /** The decoder behind vae_decoder/model.onnx: SD's VAE (default) or the tiny TAESD architecture. */
  readonly decoder?: 'vae' | 'taesd';
}

export interface Manifest {
  readonly families: Readonly<Record<string, Family>>;
  readonly variants: readonly ModelVariant[];
}

export const MANIFEST: Manifest = manifestJson as unknown as Manifest;

export function findVariant(id: string, manifest: Manifest = MANIFEST): ModelVariant {
  const variant = manifest.variants.find((v) => v.id === id);
  if (variant === undefined) {
    const known = manifest.variants.map((v) => v.id).join(', ');
    throw new EngineError('unknown-model', `unknown model ${JSON.stringify(id)}; known: ${known}`);
  }
  return variant;
}

export function familyOf(variant: ModelVariant, manifest: Manifest = MANIFEST): Family {
  const family = manifest.families[variant.family];
  if (family === undefined) throw new EngineError('unknown-model', `model ${variant.id} names unknown family ${variant.family}`);
  return family;
}

/**
 * The variant to run when `variant` needs a backend this machine lacks: the manifest's `fallback`.
 */
export function fallbackOf(variant: ModelVariant, manifest: Manifest = MANIFEST): ModelVariant | undefined {
  const id = variant.fallback;
  return id === undefined ? undefined : manifest.variants.find((v) => v.id === id);
}
