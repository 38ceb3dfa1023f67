/**
 * Memory: a tab that stays hidden gives its local model sessions (GPU and wasm memory, often GBs) back after
 * `releaseAfterMs`, and rebuilds them when it is shown again, so a returning user does not pay the load
 * time on their next draft. Coming back before the timer fires keeps everything.
 */
import type { Timers } from './liveDrafts';

export interface HiddenTabOptions {
  readonly releaseAfterMs: number;
  readonly release: () => Promise<void>;
  /** Only called when sessions were released (and something had been loaded before). */
  readonly rebuild: () => Promise<void>;
  readonly timers?: Timers;
  readonly onError?: (error: unknown) => void;
}

export const DEFAULT_RELEASE_AFTER_MS = 5 * 60 * 1000;

export class HiddenTabReleaser {
  private readonly options: HiddenTabOptions;
  private readonly timers: Timers;
  private timer: unknown = null;
  private releasedNow = false;
  private releases = 0;
  private rebuilds = 0;
  private work: Promise<void> = Promise.resolve();

  constructor(options: HiddenTabOptions) {
    this.options = options;
    this.timers = options.timers ?? {
      setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
      clearTimeout: (handle) => {
        globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>);
      },
    };
  }

  get released(): boolean {
    return this.releasedNow;
  }

  get counts(): { releases: number; rebuilds: number } {
    return { releases: this.releases, rebuilds: this.rebuilds };
  }

  /** Resolves when the release or rebuild under way (if any) is done. */
  settled(): Promise<void> {
    return this.work;
  }

  visibilityChanged(hidden: boolean): void {
    if (hidden) {
      if (this.timer !== null || this.releasedNow) return;
      this.timer = this.timers.setTimeout(() => {
        this.timer = null;
        this.releasedNow = true;
        this.releases++;
        this.chain(this.options.release);
      }, this.options.releaseAfterMs);
      return;
    }
    if (this.timer !== null) {
      this.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.releasedNow) {
      this.releasedNow = false;
      this.rebuilds++;
      this.chain(this.options.rebuild);
    }
  }

  /** Follows `document.visibilityState`; returns the unsubscribe function. */
  attach(doc: Document): () => void {
    const listener = (): void => {
      this.visibilityChanged(doc.visibilityState === 'hidden');
    };
    doc.addEventListener('visibilitychange', listener);
    return () => {
      doc.removeEventListener('visibilitychange', listener);
    };
  }

  private chain(step: () => Promise<void>): void {
    // Release and rebuild run in order: a rebuild never races the release before it.
    this.work = this.work.then(step).catch((error: unknown) => this.options.onError?.(error));
  }
}
