/** Builds the canvas's services from the page's engine, model store and capability detection. */
import type { ModelVariantId } from '../client/api';
import { variantSizes } from '../client/capabilities';
import { DEFAULT_RELEASE_AFTER_MS } from '../client/hiddenTab';
import { ClientSession } from '../client/session';
import type { EngineClient } from '../engine/client';
import type { CapabilityReport } from '../engine/capabilities';
import type { ModelStore } from '../engine/store/client';
import { setDefaultSize } from './imageGenProps';
import type { CanvasServices } from './services';

export interface PageOptions {
  /** `?model=`: the local model variant (tests use tiny-sd-turbo); default: the best for this browser. */
  readonly variant: ModelVariantId | undefined;
  /** `?doc=`: the IndexedDB document key. */
  readonly persistenceKey: string;
  /** `?releaseAfterMs=`: how long a hidden tab keeps its local model sessions. */
  readonly releaseAfterMs: number;
}

const VARIANTS: readonly ModelVariantId[] = [
  'sd-turbo-fp16-taesd',
  'sd-turbo-fp16',
  'sd-turbo-fp32',
  'sd-turbo-int8',
  'tiny-sd-turbo',
  'tiny-sd-turbo-fp16',
  'tiny-sd-turbo-taesd',
];

export function pageOptions(params: URLSearchParams): PageOptions {
  const model = params.get('model');
  const doc = params.get('doc');
  const release = Number(params.get('releaseAfterMs') ?? Number.NaN);
  return {
    variant: VARIANTS.find((v) => v === model),
    persistenceKey: doc !== null && /^[\w.-]{1,64}$/.test(doc) ? `turbodraft-${doc}` : 'turbodraft',
    releaseAfterMs: Number.isFinite(release) && release >= 0 ? release : DEFAULT_RELEASE_AFTER_MS,
  };
}

export interface SetupInput {
  readonly engine: EngineClient;
  readonly models: ModelStore;
  readonly capabilities: () => Promise<CapabilityReport>;
  readonly options: PageOptions;
}

export async function canvasServices(input: SetupInput): Promise<CanvasServices> {
  const session = new ClientSession({
    engine: input.engine,
    models: input.models,
    capabilities: input.capabilities,
    releaseAfterMs: input.options.releaseAfterMs,
    ...(input.options.variant === undefined ? {} : { variant: input.options.variant }),
  });
  session.memory.attach(document);
  const variant = await session.variant();
  const { sizes, defaultSize } = variantSizes(variant);
  setDefaultSize(defaultSize);
  return { session, variant, sizes, defaultSize, generated: new Set() };
}
