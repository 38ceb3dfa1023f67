import { describe, expect, it } from 'vitest';
import type { UsageReport } from './api';
import { FakeGateway } from './testing/fakes';
import { UsageReporter } from './usage';

const report = (id: string): UsageReport => ({
  id,
  priority: 'draft',
  backend: 'wasm',
  variant: 'tiny-sd-turbo',
  width: 64,
  height: 64,
  steps: 1,
  img2img: false,
  stagesMs: { unet: 10 },
  totalMs: 12,
});

describe('UsageReporter', () => {
  it('sends each report once when the gateway answers', async () => {
    const gateway = new FakeGateway();
    const usage = new UsageReporter(gateway);
    await usage.report(report('a'));
    await usage.report(report('b'));
    expect(gateway.usage.map((u) => u.id)).toEqual(['a', 'b']);
    expect(usage.queued).toBe(0);
  });

  it('keeps a failed report and sends it, same id, with the next one', async () => {
    const gateway = new FakeGateway();
    gateway.usageFailures = 1;
    const usage = new UsageReporter(gateway);
    await usage.report(report('a'));
    expect(usage.queued).toBe(1);
    await usage.report(report('b'));
    expect(gateway.usage.map((u) => u.id)).toEqual(['a', 'b']);
    expect(usage.queued).toBe(0);
  });

  it('drops the oldest reports beyond its bound while the gateway stays away', async () => {
    const gateway = new FakeGateway();
    gateway.usageFailures = 100;
    const usage = new UsageReporter(gateway, 2);
    for (const id of ['a', 'b', 'c']) await usage.report(report(id));
    gateway.usageFailures = 0;
    await usage.flush();
    expect(gateway.usage.map((u) => u.id)).toEqual(['b', 'c']);
  });
});
