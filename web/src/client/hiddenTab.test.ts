import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HiddenTabReleaser } from './hiddenTab';

function harness(releaseAfterMs = 1000) {
  const calls: string[] = [];
  const releaser = new HiddenTabReleaser({
    releaseAfterMs,
    release: () => {
      calls.push('release');
      return Promise.resolve();
    },
    rebuild: () => {
      calls.push('rebuild');
      return Promise.resolve();
    },
  });
  return { releaser, calls };
}

describe('HiddenTabReleaser', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('releases local sessions once the tab has been hidden for the configured time', async () => {
    const { releaser, calls } = harness();
    releaser.visibilityChanged(true);
    vi.advanceTimersByTime(999);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    await releaser.settled();
    expect(calls).toEqual(['release']);
    expect(releaser.released).toBe(true);
  });

  it('keeps everything when the tab comes back before the time is up', async () => {
    const { releaser, calls } = harness();
    releaser.visibilityChanged(true);
    vi.advanceTimersByTime(500);
    releaser.visibilityChanged(false);
    vi.advanceTimersByTime(5000);
    await releaser.settled();
    expect(calls).toEqual([]);
  });

  it('rebuilds on return after a release, once', async () => {
    const { releaser, calls } = harness();
    releaser.visibilityChanged(true);
    vi.advanceTimersByTime(1000);
    releaser.visibilityChanged(false);
    releaser.visibilityChanged(false);
    await releaser.settled();
    expect(calls).toEqual(['release', 'rebuild']);
    expect(releaser.counts).toEqual({ releases: 1, rebuilds: 1 });
  });

  it('does not start a second timer for repeated hidden events', async () => {
    const { releaser, calls } = harness();
    releaser.visibilityChanged(true);
    vi.advanceTimersByTime(600);
    releaser.visibilityChanged(true);
    vi.advanceTimersByTime(400);
    await releaser.settled();
    expect(calls).toEqual(['release']);
  });
});
