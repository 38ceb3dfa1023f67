/**
 * Live drafts: regenerate as the prompt changes, without flooding the engine. Changes are debounced
 * (~250 ms); at most one generation runs at a time; while one runs, only the newest change waits, and a
 * result whose prompt is no longer the newest is dropped rather than shown.
 */

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => {
    globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

export interface LiveDraftOptions<T> {
  /** Starts a generation for `value` (e.g. the prompt). */
  readonly run: (value: string) => Promise<T>;
  /** The newest value's result; stale ones never arrive here. */
  readonly onResult: (value: string, result: T) => void;
  readonly onError?: (value: string, error: unknown) => void;
  readonly debounceMs?: number;
  readonly timers?: Timers;
}

export const LIVE_DRAFT_DEBOUNCE_MS = 250;

export class LiveDraftScheduler<T> {
  private readonly options: LiveDraftOptions<T>;
  private readonly debounceMs: number;
  private readonly timers: Timers;
  private timer: unknown = null;
  private latest: string | null = null;
  private inFlight: string | null = null;
  /** The newest value not yet started (it starts when the running one ends). */
  private waiting: string | null = null;
  private started = 0;
  private stopped = false;

  constructor(options: LiveDraftOptions<T>) {
    this.options = options;
    this.debounceMs = options.debounceMs ?? LIVE_DRAFT_DEBOUNCE_MS;
    this.timers = options.timers ?? realTimers;
  }

  /** Generations started so far. */
  get generationsStarted(): number {
    return this.started;
  }

  get busy(): boolean {
    return this.inFlight !== null || this.timer !== null || this.waiting !== null;
  }

  /** The prompt changed. */
  change(value: string): void {
    if (this.stopped) return;
    this.latest = value;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.due(value);
    }, this.debounceMs);
  }

  /** Stops scheduling; a running generation's result is dropped. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.waiting = null;
  }

  private due(value: string): void {
    if (this.inFlight !== null) {
      this.waiting = value;
      return;
    }
    this.start(value);
  }

  private start(value: string): void {
    this.inFlight = value;
    this.started++;
    this.options.run(value).then(
      (result) => {
        this.finish();
        if (!this.stopped && value === this.latest) this.options.onResult(value, result);
      },
      (error: unknown) => {
        this.finish();
        if (!this.stopped && value === this.latest) this.options.onError?.(value, error);
      },
    );
  }

  private finish(): void {
    this.inFlight = null;
    const next = this.waiting;
    this.waiting = null;
    // Only the newest change is worth generating; an older waiting value was already superseded.
    if (next !== null && !this.stopped && next === this.latest) this.start(next);
  }
}
