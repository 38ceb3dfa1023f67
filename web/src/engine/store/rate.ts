/** Transfer rate over a sliding window, and the ETA it implies. Pure: time comes in as milliseconds. */

export class RateMeter {
  private readonly windowMs: number;
  private samples: { at: number; bytes: number }[] = [];

  constructor(windowMs = 3000) {
    this.windowMs = windowMs;
  }

  /** Records that `bytes` in total have been received this session at time `at`. */
  add(at: number, bytes: number): void {
    // Called per network read (thousands a second): coarsen to one sample per 50 ms so this stays O(1).
    const last = this.samples[this.samples.length - 1];
    const previous = this.samples[this.samples.length - 2];
    if (last !== undefined && previous !== undefined && at - previous.at < 50) {
      this.samples[this.samples.length - 1] = { at, bytes };
      return;
    }
    this.samples.push({ at, bytes });
    const oldest = at - this.windowMs;
    // Keep one sample older than the window, so the window is always spanned.
    while (this.samples.length > 2 && (this.samples[1]?.at ?? at) <= oldest) this.samples.shift();
  }

  reset(): void {
    this.samples = [];
  }

  /** Bytes per second; 0 until two samples span some time. */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || last.at <= first.at) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }
}

export function etaSeconds(remaining: number, rate: number): number | null {
  if (remaining <= 0) return 0;
  if (!(rate > 0)) return null;
  return remaining / rate;
}

/** Backoff before retry `attempt` (1-based): base * 2^(attempt-1), capped at 30 s. */
export function backoffMs(attempt: number, baseMs: number): number {
  return Math.min(30_000, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Parses `Content-Range: bytes a-b/total`; null when absent or malformed. */
export function parseContentRange(header: string | null): { start: number; end: number; total: number | null } | null {
  if (header === null) return null;
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  if (match === null) return null;
  const [, start, end, total] = match;
  return { start: Number(start), end: Number(end), total: total === '*' || total === undefined ? null : Number(total) };
}
