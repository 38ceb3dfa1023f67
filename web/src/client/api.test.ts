/**
 * The hand-written wire types against responses recorded from the real gateway (recorded/*.json, made with
 * FastAPI's TestClient on the tiny model): every field a type declares must be in what the gateway sends.
 * The key lists are typed `Record<keyof T, true>`, so adding a field to a type without listing it fails
 * type-checking, and a field the gateway renamed fails here.
 */
import { describe, expect, it } from 'vitest';
import type { CostSummary, JobView, PeriodTotals, RouteAnswer, RouteStep, UsageRecorded } from './api';
import { GatewayError, HttpGateway, type FetchLike } from './gateway';
import costs from './recorded/costs.json';
import error422 from './recorded/error-422.json';
import job from './recorded/job-completed.json';
import route from './recorded/route-draft.json';
import usage from './recorded/usage.json';

const JOB_KEYS: Record<keyof JobView, true> = {
  id: true,
  status: true,
  priority: true,
  target: true,
  backend: true,
  variant: true,
  billed: true,
  attempts: true,
  fallbackReason: true,
  imageUrl: true,
  width: true,
  height: true,
  steps: true,
  seed: true,
  img2img: true,
  costUsd: true,
  billedSeconds: true,
  delayMs: true,
  executionMs: true,
  totalMs: true,
  error: true,
};
const STEP_KEYS: Record<keyof RouteStep, true> = {
  target: true,
  backend: true,
  variant: true,
  reason: true,
  estimatedCostUsd: true,
  estimatedMs: true,
  billed: true,
};
const PERIOD_KEYS: Record<keyof PeriodTotals, true> = {
  local_count: true,
  cloud_count: true,
  local_cost_usd: true,
  cloud_cost_usd: true,
  avoided_cost_usd: true,
  total_count: true,
  total_cost_usd: true,
};
const USAGE_KEYS: Record<keyof UsageRecorded, true> = { id: true, recorded: true };

function missing(keys: Record<string, true>, value: object): string[] {
  return Object.keys(keys).filter((key) => !(key in value));
}

describe('wire types', () => {
  it('match a recorded job view', () => {
    expect(missing(JOB_KEYS, job)).toEqual([]);
    const view = job as unknown as JobView;
    expect(view.attempts[0]).toEqual({ target: 'server', error: null, ms: expect.any(Number) as number });
  });

  it('match a recorded route answer and its steps', () => {
    const answer = route as unknown as RouteAnswer;
    expect(Object.keys(answer.plan).sort()).toEqual(['refusals', 'skipped', 'steps']);
    for (const step of answer.plan.steps) expect(missing(STEP_KEYS, step)).toEqual([]);
    expect(answer.plan.steps[0]).toMatchObject({ target: 'browser', backend: 'wasm', variant: 'tiny-sd-turbo' });
    expect(answer.gateway.runpod.mode).toBe('local');
  });

  it('match recorded cost totals and savings', () => {
    const summary = costs as unknown as CostSummary;
    expect(missing(PERIOD_KEYS, summary.today)).toEqual([]);
    expect(missing(PERIOD_KEYS, summary.this_month)).toEqual([]);
    expect(Object.keys(summary.savings).sort()).toEqual(['actual_cost_usd', 'all_runpod_cost_usd', 'saved_fraction', 'saved_usd']);
  });

  it('match a recorded usage answer', () => {
    expect(missing(USAGE_KEYS, usage)).toEqual([]);
  });
});

function answering(status: number, body: unknown, seen: { url: string; init?: RequestInit }[] = []): FetchLike {
  return (url, init) => {
    seen.push({ url, ...(init === undefined ? {} : { init }) });
    return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
  };
}

describe('HttpGateway', () => {
  it('posts JSON with the user header and parses the answer', async () => {
    const seen: { url: string; init?: RequestInit }[] = [];
    const gateway = new HttpGateway({ baseUrl: 'http://gw/', userId: 'u1', fetch: answering(200, route, seen) });
    const answer = await gateway.route({
      request: { priority: 'draft', mode: 'auto', width: 64, height: 64, steps: 1, img2img: false },
      capabilities: null,
    });
    expect(answer.plan.steps[0]?.target).toBe('browser');
    expect(seen[0]?.url).toBe('http://gw/v1/route');
    expect(seen[0]?.init?.headers).toEqual({ 'X-User-Id': 'u1', 'Content-Type': 'application/json' });
  });

  it('turns the gateway error body into a GatewayError with its code', async () => {
    const gateway = new HttpGateway({ fetch: answering(422, error422) });
    const error = await gateway.costs().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ status: 422, code: 'invalid_request' });
    expect((error as GatewayError).message).toContain('steps');
  });

  it('says the gateway could not be reached when fetch itself fails', async () => {
    const gateway = new HttpGateway({ fetch: () => Promise.reject(new TypeError('Failed to fetch')) });
    await expect(gateway.costs()).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('long-polls a job with the wait in milliseconds', async () => {
    const seen: { url: string; init?: RequestInit }[] = [];
    const gateway = new HttpGateway({ fetch: answering(200, job, seen) });
    await gateway.job('abc', 25000.4);
    expect(seen[0]?.url).toBe('/v1/jobs/abc?wait=25000');
  });
});
