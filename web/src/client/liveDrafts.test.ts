import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveDraftScheduler } from './liveDrafts';

interface Pending {
  readonly value: string;
  resolve: (result: string) => void;
}

function harness() {
  const running: Pending[] = [];
  const results: string[] = [];
  const scheduler = new LiveDraftScheduler<string>({
    run: (value) =>
      new Promise<string>((resolve) => {
        running.push({ value, resolve });
      }),
    onResult: (value, result) => results.push(`${value}=${result}`),
  });
  return { scheduler, running, results };
}

describe('LiveDraftScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits for typing to pause about 250 ms before generating', () => {
    const { scheduler, running } = harness();
    scheduler.change('a');
    vi.advanceTimersByTime(200);
    scheduler.change('ab');
    vi.advanceTimersByTime(200);
    expect(running).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(running.map((r) => r.value)).toEqual(['ab']);
  });

  it('runs one generation at a time and then only the newest waiting prompt', async () => {
    const { scheduler, running, results } = harness();
    scheduler.change('a');
    vi.advanceTimersByTime(250);
    for (const value of ['ab', 'abc', 'abcd']) {
      scheduler.change(value);
      vi.advanceTimersByTime(300);
    }
    expect(running.map((r) => r.value)).toEqual(['a']);
    running[0]?.resolve('image-a');
    await vi.runAllTimersAsync();
    expect(running.map((r) => r.value)).toEqual(['a', 'abcd']);
    running[1]?.resolve('image-abcd');
    await vi.runAllTimersAsync();
    expect(results).toEqual(['abcd=image-abcd']);
    expect(scheduler.generationsStarted).toBe(2);
  });

  it('starts at most two generations for five quick changes and shows the last prompt', async () => {
    const { scheduler, running, results } = harness();
    for (const value of ['f', 'fo', 'fox', 'fox ', 'fox!']) {
      scheduler.change(value);
      vi.advanceTimersByTime(50);
    }
    vi.advanceTimersByTime(250);
    running[0]?.resolve('done');
    await vi.runAllTimersAsync();
    expect(scheduler.generationsStarted).toBeLessThanOrEqual(2);
    expect(results).toEqual(['fox!=done']);
  });

  it('drops a result whose prompt changed while it ran', async () => {
    const { scheduler, running, results } = harness();
    scheduler.change('cat');
    vi.advanceTimersByTime(250);
    scheduler.change('dog');
    running[0]?.resolve('image-cat');
    await vi.runAllTimersAsync();
    expect(results).toEqual([]);
    running[1]?.resolve('image-dog');
    await vi.runAllTimersAsync();
    expect(results).toEqual(['dog=image-dog']);
  });

  it('stops: nothing more starts and a running result is dropped', async () => {
    const { scheduler, running, results } = harness();
    scheduler.change('cat');
    vi.advanceTimersByTime(250);
    scheduler.stop();
    scheduler.change('dog');
    vi.advanceTimersByTime(1000);
    running[0]?.resolve('image-cat');
    await vi.runAllTimersAsync();
    expect(running).toHaveLength(1);
    expect(results).toEqual([]);
  });
});
