/** What the canvas gets from the page: the client session, and a signal that costs changed. */
import { createContext, use } from 'react';
import type { ModelVariantId } from '../client/api';
import type { ClientSession } from '../client/session';

export interface CanvasServices {
  readonly session: ClientSession;
  /** The local model variant drafts use (the store's id, e.g. "sd-turbo-int8" or "tiny-sd-turbo"). */
  readonly variant: ModelVariantId;
  /** Default image side for new shapes (the variant's default size). */
  readonly defaultSize: number;
  /** Sizes the local model accepts, smallest first. */
  readonly sizes: readonly number[];
  /** Listeners called after every generation (the cost panel refreshes). */
  readonly generated: Set<() => void>;
}

export const CanvasServicesContext = createContext<CanvasServices | null>(null);

export function useCanvasServices(): CanvasServices {
  const services = use(CanvasServicesContext);
  if (services === null) throw new Error('CanvasServicesContext is missing: render inside <Canvas>');
  return services;
}
