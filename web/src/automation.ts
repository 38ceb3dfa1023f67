import type { CapabilityReport } from './engine/capabilities';

/** What `window.turbodraft` offers to browser tests and scripts. */
export interface TurbodraftAutomation {
  capabilities: () => Promise<CapabilityReport>;
}

/** Runs `compute` once, on first call, and hands every caller the same promise. */
export function once<T>(compute: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= compute());
}
