import { describe, expect, it } from 'vitest';
import { browserSkipText, fallbackAction, formatUsd, statusLine } from './messages';
import { CAPS, plan, step } from './testing/fakes';

describe('messages', () => {
  it('say where an image was made, how long it took and what it cost', () => {
    expect(statusLine({ source: 'browser', backend: 'wasm', totalMs: 412, costUsd: 0 })).toBe(
      'Made in this browser (wasm) · 412 ms · free',
    );
    expect(statusLine({ source: 'server', backend: 'cpu', totalMs: 20500, costUsd: 0 })).toBe('Made on the server · 20.5 s · free');
    expect(statusLine({ source: 'runpod', backend: 'runpod', totalMs: 3200, costUsd: 0.0053, runpodMode: 'local' })).toBe(
      'Made on RunPod (local server) · 3.2 s · $0.0053',
    );
  });

  it('name the fallback action by target and priority', () => {
    expect(fallbackAction('server', 'draft')).toBe('drafted on the server');
    expect(fallbackAction('runpod', 'draft')).toBe('sent to RunPod');
    expect(fallbackAction('server', 'final')).toBe('rendered on the server');
  });

  it('shorten the usual reasons the browser was skipped', () => {
    const skipped = (reason: string) => plan([step('server')], [{ target: 'browser', reason }]);
    expect(browserSkipText(skipped('the browser\'s tiny-sd-turbo model is not-downloaded'), CAPS)).toBe(
      'local model not downloaded',
    );
    expect(browserSkipText(skipped('software WebGPU adapter is too slow for the real model'), CAPS)).toBe(
      'software WebGPU adapter is too slow for the real model',
    );
    expect(browserSkipText(plan([step('server')]), CAPS)).toBeNull();
  });

  it('format money as free, fractions of a cent or cents', () => {
    expect(formatUsd(0)).toBe('free');
    expect(formatUsd(0.0019)).toBe('$0.0019');
    expect(formatUsd(1.5)).toBe('$1.50');
  });
});
