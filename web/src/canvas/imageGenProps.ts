/**
 * The ImageGen shape's props: validators, types and migrations (no React, so they run under vitest).
 *
 * Version 0 is the canvas app's original shape (`w, h, prompt, imageUrl, isLoading, error, endpointId?`);
 * migration 1 turns it into this one. The image is a tldraw asset (`assetId`) stored in IndexedDB, never a
 * data URL in the document; an old `imageUrl` is kept as `legacyImageUrl` until the shape converts it into
 * an asset the first time it is shown.
 */
import {
  T,
  assetIdValidator,
  createShapePropsMigrationIds,
  createShapePropsMigrationSequence,
  type RecordProps,
  type TLAssetId,
  type TLShape,
} from 'tldraw';

export const IMAGE_GEN_TYPE = 'ImageGen';

export type GenerationMode = 'auto' | 'local' | 'cloud';
export type LocalModelStatus = 'not-loaded' | 'loading' | 'ready' | 'error';
export type ImageSource = 'browser' | 'server' | 'runpod';
export type ImageKind = 'draft' | 'final';

export interface ImageGenProps {
  w: number;
  h: number;
  prompt: string;
  /** The current image, a tldraw asset (its bytes live in the asset store), or null before the first one. */
  assetId: TLAssetId | null;
  /** An image URL from a document of the old app, until it is converted into an asset. */
  legacyImageUrl: string | null;
  kind: ImageKind | null;
  generationMode: GenerationMode;
  localModelStatus: LocalModelStatus;
  localModelProgress: number;
  source: ImageSource | null;
  /** The engine backend or gateway hint that made the image ("wasm", "webgpu", "cpu", "runpod"). */
  backend: string | null;
  seed: number;
  seedLocked: boolean;
  steps: number;
  /** Side of the square image in pixels. */
  size: number;
  /** USD the image cost (0 for browser and server images). */
  cost: number;
  /** Milliseconds per stage, with `total`. */
  timings: Record<string, number>;
  /** The fallback taken for the image and why ("device lost: sent to RunPod"), if any. */
  fallback: string | null;
  error: string | null;
  liveDrafts: boolean;
}

declare module 'tldraw' {
  interface TLGlobalShapePropsMap {
    [IMAGE_GEN_TYPE]: ImageGenProps;
  }
}

export type ImageGenShape = Extract<TLShape, { type: typeof IMAGE_GEN_TYPE }>;

export const SEED_LIMIT = 2 ** 32;

export const imageGenProps: RecordProps<ImageGenShape> = {
  w: T.nonZeroNumber,
  h: T.nonZeroNumber,
  prompt: T.string,
  assetId: assetIdValidator.nullable(),
  legacyImageUrl: T.string.nullable(),
  kind: T.literalEnum('draft', 'final').nullable(),
  generationMode: T.literalEnum('auto', 'local', 'cloud'),
  localModelStatus: T.literalEnum('not-loaded', 'loading', 'ready', 'error'),
  localModelProgress: T.number.check((n) => {
    if (n < 0 || n > 100) throw new Error(`localModelProgress must be in [0, 100], got ${String(n)}`);
  }),
  source: T.literalEnum('browser', 'server', 'runpod').nullable(),
  backend: T.string.nullable(),
  seed: T.integer.check((n) => {
    if (n < 0 || n >= SEED_LIMIT) throw new Error(`seed must be in [0, 2**32), got ${String(n)}`);
  }),
  seedLocked: T.boolean,
  steps: T.integer.check((n) => {
    if (n < 1 || n > 150) throw new Error(`steps must be in [1, 150], got ${String(n)}`);
  }),
  size: T.integer.check((n) => {
    if (n < 64 || n > 2048 || n % 8 !== 0) throw new Error(`size must be a multiple of 8 in [64, 2048], got ${String(n)}`);
  }),
  cost: T.positiveNumber,
  timings: T.dict(T.string, T.number),
  fallback: T.string.nullable(),
  error: T.string.nullable(),
  liveDrafts: T.boolean,
};

export const DEFAULT_SIZE = 512;

let defaultSize = DEFAULT_SIZE;

/** New shapes start at the local model's default size (the page sets it once it knows the model). */
export function setDefaultSize(size: number): void {
  defaultSize = size;
}

export function randomSeed(): number {
  return Math.floor(Math.random() * SEED_LIMIT);
}

export function defaultImageGenProps(seed = randomSeed()): ImageGenProps {
  return {
    w: 360,
    h: 540,
    prompt: '',
    assetId: null,
    legacyImageUrl: null,
    kind: null,
    generationMode: 'auto',
    localModelStatus: 'not-loaded',
    localModelProgress: 0,
    source: null,
    backend: null,
    seed,
    seedLocked: false,
    steps: 1,
    size: defaultSize,
    cost: 0,
    timings: {},
    fallback: null,
    error: null,
    liveDrafts: false,
  };
}

export const imageGenVersions = createShapePropsMigrationIds(IMAGE_GEN_TYPE, {
  FromCanvasApp: 1,
});

/** The old app's props (version 0). */
interface CanvasAppProps {
  w: number;
  h: number;
  prompt: string;
  imageUrl?: string | null;
  isLoading?: boolean;
  error?: string | null;
  endpointId?: string;
}

/** Seeds a migrated shape deterministically from its prompt, so the same document migrates the same way. */
function seedFrom(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
  return hash;
}

export const imageGenMigrations = createShapePropsMigrationSequence({
  sequence: [
    {
      id: imageGenVersions.FromCanvasApp,
      up(props: CanvasAppProps): ImageGenProps {
        const old = props;
        const imageUrl = typeof old.imageUrl === 'string' && old.imageUrl !== '' ? old.imageUrl : null;
        const migrated: ImageGenProps = {
          ...defaultImageGenProps(seedFrom(old.prompt)),
          w: old.w,
          h: old.h,
          prompt: old.prompt,
          size: DEFAULT_SIZE,
          legacyImageUrl: imageUrl,
          // The old app only rendered on RunPod: its images were finals from there.
          kind: imageUrl === null ? null : 'final',
          source: imageUrl === null ? null : 'runpod',
          generationMode: 'cloud',
          // A document saved mid-generation cannot resume it: say so instead of spinning forever.
          error: old.error ?? (old.isLoading === true ? 'the generation was interrupted; generate again' : null),
        };
        return migrated;
      },
      down(props: ImageGenProps): CanvasAppProps {
        const current = props;
        const old: CanvasAppProps = {
          w: current.w,
          h: current.h,
          prompt: current.prompt,
          imageUrl: current.legacyImageUrl,
          isLoading: false,
          error: current.error,
        };
        return old;
      },
    },
  ],
});
