/**
 * Which variant runs on which backend here. fp16 graphs need WebGPU with `shader-f16`: without it ORT-web's
 * WebGPU backend returns all zeros silently (browser-diffusion.md, trap 2), so such a model is never loaded
 * there; the engine runs the variant's fp32 fallback instead and says why.
 */
import { EngineError } from './errors';
import { fallbackOf, type BackendName, type Manifest, type ModelVariant, MANIFEST } from './manifest';

/** What the choice depends on: a subset of the capability report, measured on the engine's own device. */
export interface BackendSupport {
  readonly hasWebGPU: boolean;
  readonly shaderF16: boolean;
  readonly isSoftwareAdapter: boolean;
  /** Adapter name for messages (e.g. "swiftshader"). */
  readonly adapterName: string;
  /** Why WebGPU is unusable, when it is. */
  readonly webgpuReason: string | null;
}

export interface BackendChoice {
  readonly variant: ModelVariant;
  readonly backend: BackendName;
  /** Set when the choice differs from what was asked (another variant or backend), saying why. */
  readonly reason: string | null;
}

/** Why `backend` cannot run here, or null when it can. */
export function unavailableBecause(backend: BackendName, support: BackendSupport): string | null {
  if (backend === 'wasm') return null;
  if (!support.hasWebGPU) return `WebGPU is unavailable (${support.webgpuReason ?? 'no adapter'})`;
  if (backend === 'webgpu-f16' && !support.shaderF16) {
    return `fp16 on WebGPU needs the shader-f16 feature, which adapter ${support.adapterName || '(unnamed)'} lacks`;
  }
  return null;
}

/**
 * The backend for `variant`: `forced` exactly (or a typed error), else the first of the variant's backends usable
 * here. A software adapter (SwiftShader) is passed over for wasm, which is about 100x faster on the same CPU.
 * When none is usable, the variant's fallback is tried, and the reason is carried in the choice.
 */
export function chooseBackend(
  variant: ModelVariant,
  support: BackendSupport,
  forced?: BackendName,
  manifest: Manifest = MANIFEST,
): BackendChoice {
  if (forced !== undefined) {
    if (!variant.backends.includes(forced)) {
      throw new EngineError(
        'backend-unavailable',
        `model ${variant.id} runs on ${variant.backends.join(' or ')}, not on ${forced}`,
      );
    }
    const why = unavailableBecause(forced, support);
    if (why !== null) throw new EngineError('backend-unavailable', `cannot run ${variant.id} on ${forced}: ${why}`);
    return { variant, backend: forced, reason: null };
  }
  const usable = variant.backends.filter((b) => unavailableBecause(b, support) === null);
  const preferred = support.isSoftwareAdapter ? (usable.find((b) => b === 'wasm') ?? usable[0]) : usable[0];
  if (preferred !== undefined) {
    const skipped = support.isSoftwareAdapter && preferred === 'wasm' && usable[0] !== 'wasm';
    const reason = skipped ? `adapter ${support.adapterName} is a software rasteriser; wasm is faster on this CPU` : null;
    return { variant, backend: preferred, reason };
  }
  const why = variant.backends.map((b) => unavailableBecause(b, support)).filter((r) => r !== null).join('; ');
  const fallback = fallbackOf(variant, manifest);
  if (fallback === undefined) {
    throw new EngineError('backend-unavailable', `cannot run ${variant.id} here: ${why}`);
  }
  const choice = chooseBackend(fallback, support, undefined, manifest);
  const reason = `${variant.id} refused: ${why}; running ${fallback.id} on ${choice.backend} instead`;
  return { ...choice, reason: choice.reason === null ? reason : `${reason} (${choice.reason})` };
}
