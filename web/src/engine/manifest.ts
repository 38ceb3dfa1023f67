/**
 * The model manifest shared with the Python twin (src/turbodraft/models/manifest.json): the scheduler constants,
 * tokenizer ids and size limits come from that one file so both twins compute the same image.
 *
 * The bundle carries the manifest it was built with; at run time the engine adds what the gateway serves
 * (`/models/manifest.json`, or the definitions stored with downloaded models when the gateway is gone), so a
 * variant pulled or defined after the build runs without rebuilding the web app (`mergeManifests`).
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

const BACKENDS: readonly BackendName[] = ['webgpu-f16', 'webgpu', 'wasm'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function sizeRange(raw: unknown): SizeRange | null {
  if (!isRecord(raw)) return null;
  const { default: byDefault, min, max, multiple_of: multipleOf } = raw;
  if (!isNumber(byDefault) || !isNumber(min) || !isNumber(max) || !isNumber(multipleOf) || multipleOf <= 0) return null;
  return { default: byDefault, min, max, multiple_of: multipleOf };
}

/**
 * A variant as the gateway serves it (or as a download stored it), checked for every field the engine reads;
 * null when something is missing or malformed (the engine then does not offer it).
 */
export function parseVariant(raw: unknown): ModelVariant | null {
  if (!isRecord(raw)) return null;
  const { id, family, dtype, backends, max_steps: maxSteps, img2img, fallback, decoder } = raw;
  const image = sizeRange(raw.image);
  if (typeof id !== 'string' || typeof family !== 'string' || typeof dtype !== 'string' || image === null) return null;
  if (!Array.isArray(backends) || backends.length === 0) return null;
  const known = backends.filter((b): b is BackendName => BACKENDS.includes(b as BackendName));
  if (known.length !== backends.length || !isNumber(maxSteps) || typeof img2img !== 'boolean') return null;
  if (fallback !== undefined && fallback !== null && typeof fallback !== 'string') return null;
  if (decoder !== undefined && decoder !== 'vae' && decoder !== 'taesd') return null;
  return {
    id,
    family,
    dtype,
    backends: known,
    image,
    max_steps: maxSteps,
    img2img,
    ...(typeof fallback === 'string' ? { fallback } : {}),
    ...(decoder === undefined ? {} : { decoder }),
  };
}

function parseFamily(raw: unknown): Family | null {
  if (!isRecord(raw) || !isRecord(raw.scheduler) || !isRecord(raw.tokenizer) || !isRecord(raw.vae)) return null;
  const { scheduler, tokenizer, vae } = raw;
  const numbers = (record: Record<string, unknown>, keys: readonly string[]): boolean => keys.every((k) => isNumber(record[k]));
  if (!numbers(scheduler, ['num_train_timesteps', 'beta_start', 'beta_end', 'steps_offset'])) return null;
  if (!numbers(tokenizer, ['pad_token_id', 'bos_token_id', 'eos_token_id', 'max_length'])) return null;
  if (!numbers(vae, ['scaling_factor', 'latent_channels', 'downscale'])) return null;
  return raw as unknown as Family;
}

/** Variants and families from outside the bundle, unchecked (what the gateway served or a download stored). */
export interface ManifestExtension {
  readonly variants: readonly unknown[];
  readonly families: Readonly<Record<string, unknown>>;
}

/**
 * `base` with the valid variants and families of `extra` added, or replacing those of the same id (the gateway
 * knows its own files best). A variant whose family is unknown in both is left out.
 */
export function mergeManifests(base: Manifest, extra: ManifestExtension): Manifest {
  const families: Record<string, Family> = { ...base.families };
  for (const [name, raw] of Object.entries(extra.families)) {
    const family = parseFamily(raw);
    if (family !== null) families[name] = family;
  }
  const variants = new Map(base.variants.map((v) => [v.id, v]));
  for (const raw of extra.variants) {
    const variant = parseVariant(raw);
    if (variant !== null && variant.family in families) variants.set(variant.id, variant);
  }
  return { families, variants: [...variants.values()] };
}
