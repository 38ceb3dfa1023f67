/**
 * Reports images the browser made to `/v1/usage`, so the ledger counts free local work next to cloud spend.
 * A report that fails (gateway down, offline) stays queued and is sent again with the next report or on
 * `flush()`; the gateway records each id once, so a retry that had in fact arrived counts nothing twice.
 */
import type { UsageRecorded, UsageReport } from './api';

export interface UsageSink {
  reportUsage(report: UsageReport): Promise<UsageRecorded>;
}

export class UsageReporter {
  private readonly sink: UsageSink;
  private readonly pending = new Map<string, UsageReport>();
  private sending: Promise<void> = Promise.resolve();
  private readonly maxPending: number;

  constructor(sink: UsageSink, maxPending = 500) {
    this.sink = sink;
    this.maxPending = maxPending;
  }

  /** Reports waiting for a retry. */
  get queued(): number {
    return this.pending.size;
  }

  /** Queues `report` and sends everything queued; never throws (usage must not fail a generation). */
  report(report: UsageReport): Promise<void> {
    this.pending.set(report.id, report);
    // Oldest first out when the gateway stays away for very long: memory must stay bounded.
    while (this.pending.size > this.maxPending) {
      const oldest = this.pending.keys().next();
      if (oldest.done === true) break;
      this.pending.delete(oldest.value);
    }
    return this.flush();
  }

  /** Sends every queued report, one at a time and in order; failures stay queued. */
  flush(): Promise<void> {
    this.sending = this.sending.then(() => this.sendAll());
    return this.sending;
  }

  private async sendAll(): Promise<void> {
    for (const [id, report] of [...this.pending]) {
      try {
        await this.sink.reportUsage(report);
        this.pending.delete(id);
      } catch {
        return; // the gateway is away: keep the rest for the next try
      }
    }
  }
}
