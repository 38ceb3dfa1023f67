/**
 * The pull API's hand-written wire types against responses recorded from the real gateway (recorded/*.json;
 * tests/test_model_pulls.py checks that the gateway still answers with exactly these fields). The key lists are
 * typed `Record<keyof T, true>`, so a field added to a type without listing it fails type-checking.
 */
import { describe, expect, it } from 'vitest';
import { GatewayPulls, PullError, type FetchLike, type PullView, type PullsInfo } from './gatewayPulls';
import running from './recorded/pull-running.json';
import info from './recorded/pulls-info.json';

const VIEW_KEYS: Record<keyof PullView, true> = {
  variant: true,
  state: true,
  phase: true,
  bytesDone: true,
  bytesTotal: true,
  file: true,
  error: true,
  startedAt: true,
  finishedAt: true,
  command: true,
};
const INFO_KEYS: Record<keyof PullsInfo, true> = { allowed: true, reason: true, pulls: true };

function answering(status: number, body: unknown, seen: string[] = []): FetchLike {
  return (input, init) => {
    seen.push(`${init?.method ?? 'GET'} ${input}`);
    return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }));
  };
}

describe('the recorded pull responses', () => {
  it('carry every field of PullView, and no other', () => {
    expect(Object.keys(running).sort()).toEqual(Object.keys(VIEW_KEYS).sort());
    expect(running.state).toBe('running');
  });

  it('carry every field of PullsInfo', () => {
    expect(Object.keys(info).sort()).toEqual(Object.keys(INFO_KEYS).sort());
    for (const pull of info.pulls) expect(Object.keys(pull).sort()).toEqual(Object.keys(VIEW_KEYS).sort());
  });
});

describe('GatewayPulls', () => {
  it('starts, follows and cancels a pull at the gateway routes', async () => {
    const seen: string[] = [];
    const pulls = new GatewayPulls('/v1/models', answering(202, running, seen));
    await pulls.start('sd-turbo-fp16-taesd');
    await pulls.status('sd-turbo-fp16-taesd');
    await pulls.cancel('sd-turbo-fp16-taesd');
    expect(seen).toEqual([
      'POST /v1/models/sd-turbo-fp16-taesd/pull',
      'GET /v1/models/sd-turbo-fp16-taesd/pull',
      'POST /v1/models/sd-turbo-fp16-taesd/pull/cancel',
    ]);
  });

  it("turns the gateway's refusal into an error with its code and words", async () => {
    const refusal = {
      error: { code: 'model-pulls-disabled', message: 'its admin can run `turbodraft models pull x`' },
      detail: '',
    };
    const pulls = new GatewayPulls('/v1/models', answering(403, refusal));
    await expect(pulls.start('x')).rejects.toMatchObject({ status: 403, code: 'model-pulls-disabled' });
    await expect(pulls.start('x')).rejects.toThrow(/turbodraft models pull x/);
  });

  it('says so when the gateway cannot be reached', async () => {
    const pulls = new GatewayPulls('/v1/models', () => Promise.reject(new TypeError('Failed to fetch')));
    const error: unknown = await pulls.info().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PullError);
    expect(error).toMatchObject({ status: 0, code: 'network' });
  });
});
