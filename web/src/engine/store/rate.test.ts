import { describe, expect, it } from 'vitest';
import { RateMeter, backoffMs, etaSeconds, parseContentRange } from './rate';

describe('RateMeter', () => {
  it('reports bytes per second over its window', () => {
    const meter = new RateMeter(3000);
    meter.add(0, 0);
    meter.add(1000, 5_000_000);
    meter.add(2000, 10_000_000);
    expect(meter.rate()).toBe(5_000_000);
  });

  it('forgets samples older than the window', () => {
    const meter = new RateMeter(1000);
    meter.add(0, 0);
    meter.add(100, 100_000_000); // a burst long ago
    meter.add(5000, 100_000_000);
    meter.add(6000, 101_000_000);
    expect(meter.rate()).toBe(1_000_000);
  });

  it('is zero before time passes', () => {
    const meter = new RateMeter();
    expect(meter.rate()).toBe(0);
    meter.add(10, 100);
    expect(meter.rate()).toBe(0);
  });

  it('stays small when fed every read', () => {
    const meter = new RateMeter(3000);
    for (let t = 0; t < 10_000; t++) meter.add(t, t * 1000);
    expect(meter.rate()).toBeCloseTo(1_000_000, -3);
    expect((meter as unknown as { samples: unknown[] }).samples.length).toBeLessThan(100);
  });
});

describe('etaSeconds', () => {
  it('divides what is left by the rate', () => {
    expect(etaSeconds(10_000_000, 2_000_000)).toBe(5);
  });
  it('is unknown without a rate and zero when done', () => {
    expect(etaSeconds(1, 0)).toBeNull();
    expect(etaSeconds(0, 0)).toBe(0);
  });
});

describe('backoffMs', () => {
  it('doubles per attempt and is capped', () => {
    expect([1, 2, 3].map((a) => backoffMs(a, 500))).toEqual([500, 1000, 2000]);
    expect(backoffMs(30, 500)).toBe(30_000);
  });
});

describe('parseContentRange', () => {
  it('reads start, end and total', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, end: 199, total: 1000 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, end: 9, total: null });
  });
  it('refuses anything else', () => {
    expect(parseContentRange(null)).toBeNull();
    expect(parseContentRange('bytes */1000')).toBeNull();
    expect(parseContentRange('items 0-1/2')).toBeNull();
  });
});
