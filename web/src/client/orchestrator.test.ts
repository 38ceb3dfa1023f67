import { describe, expect, it } from 'vitest';
import { Orchestrator, OrchestratorError, type GenerateInput } from './orchestrator';
import { CAPS, FakeEngine, FakeGateway, jobView, plan, step } from './testing/fakes';
import { UsageReporter } from './usage';

const DRAFT: GenerateInput = { prompt: 'a red fox', seed: 7, priority: 'draft', mode: 'auto', width: 64, height: 64 };

function setup(caps = CAPS) {
  const gateway = new FakeGateway();
  const engine = new FakeEngine();
  const usage = new UsageReporter(gateway);
  let ids = 0;
  const orchestrator = new Orchestrator({
    gateway,
    engine,
    usage,
    capabilities: () => Promise.resolve(caps),
    newId: () => `browser-${String(++ids)}`,
    now: () => 0,
  });
  return { gateway, engine, usage, orchestrator };
}

describe('Orchestrator', () => {
  it('sends the request and the capability report to /v1/route', async () => {
    const { gateway, orchestrator } = setup();
    await orchestrator.generate(DRAFT);
    expect(gateway.routed).toEqual([
      {
        request: { priority: 'draft', mode: 'auto', width: 64, height: 64, steps: 1, img2img: false },
        capabilities: CAPS,
      },
    ]);
  });

  it('runs a browser step on the local engine with the plan variant and backend', async () => {
    const { engine, orchestrator } = setup();
    const outcome = await orchestrator.generate(DRAFT);
    expect(engine.requests).toEqual([
      { prompt: 'a red fox', seed: 7, steps: 1, width: 64, height: 64, model: 'tiny-sd-turbo', backend: 'webgpu-fp32' },
    ]);
    expect(outcome).toMatchObject({ source: 'browser', costUsd: 0, totalMs: 40, fallback: null });
    expect(outcome.status).toBe('Made in this browser (webgpu) · 40 ms · free');
  });

  it('reports a browser-made image to /v1/usage with its stages and backend', async () => {
    const { gateway, orchestrator } = setup();
    const outcome = await orchestrator.generate(DRAFT);
    await Promise.resolve();
    expect(gateway.usage).toEqual([
      {
        id: outcome.generationId,
        priority: 'draft',
        backend: 'webgpu-fp32',
        variant: 'tiny-sd-turbo',
        width: 64,
        height: 64,
        steps: 1,
        img2img: false,
        stagesMs: { tokenize: 1, text_encoder: 5, unet: 20, vae_decoder: 10, total: 40 },
        totalMs: 40,
      },
    ]);
  });

  it('does not report usage for images made by the gateway (the gateway meters those itself)', async () => {
    const { gateway, orchestrator } = setup();
    gateway.routePlan = plan([step('server')]);
    await orchestrator.generate(DRAFT);
    expect(gateway.usage).toEqual([]);
  });

  it('falls back to the next step when the browser loses its device, and says so', async () => {
    const { gateway, engine, orchestrator } = setup();
    gateway.routePlan = plan([step('browser'), step('runpod')]);
    gateway.jobStates = [
      jobView({
        target: 'runpod',
        backend: 'runpod',
        billed: true,
        costUsd: 0.0019,
        totalMs: 2100,
        attempts: [{ target: 'runpod', error: null, ms: 2000 }],
      }),
    ];
    engine.failures = [{ code: 'device-lost', message: 'the WebGPU device was lost' }];
    const outcome = await orchestrator.generate(DRAFT);
    expect(outcome.source).toBe('runpod');
    expect(outcome.fallback).toBe('device lost: sent to RunPod');
    expect(outcome.attempts.map((a) => a.target)).toEqual(['browser', 'runpod']);
    expect(outcome.attempts[0]?.error).toContain('device lost');
    expect(outcome.costUsd).toBe(0.0019);
    expect(outcome.status).toBe('Made on RunPod · 2.1 s · $0.0019');
  });

  it('hands the gateway the same prompt, seed, size and mode when it falls back to a server-side step', async () => {
    const { gateway, engine, orchestrator } = setup();
    gateway.routePlan = plan([step('browser'), step('server')]);
    engine.failures = [{ code: 'inference-failed', message: 'boom' }];
    const outcome = await orchestrator.generate(DRAFT);
    expect(gateway.jobs).toEqual([
      { prompt: 'a red fox', priority: 'draft', mode: 'auto', width: 64, height: 64, seed: 7 },
    ]);
    expect(outcome.fallback).toBe('local generation failed: drafted on the server');
  });

  it('names the missing WebGPU when the plan skipped the browser for it', async () => {
    const { gateway, orchestrator } = setup({ ...CAPS, hasWebGPU: false });
    gateway.routePlan = plan(
      [step('server')],
      [{ target: 'browser', reason: 'the sd-turbo-fp16 model needs WebGPU with shader-f16, which this browser lacks' }],
    );
    const outcome = await orchestrator.generate(DRAFT);
    expect(outcome.fallback).toBe('no WebGPU: drafted on the server');
  });

  it('says the browser drafted on wasm because it has no WebGPU', async () => {
    const { gateway, engine, orchestrator } = setup({ ...CAPS, hasWebGPU: false });
    gateway.routePlan = plan([step('browser', { backend: 'wasm' })]);
    engine.backend = 'wasm';
    const outcome = await orchestrator.generate(DRAFT);
    expect(engine.requests[0]?.backend).toBe('wasm');
    expect(outcome.fallback).toBe('no WebGPU: drafted in this browser on wasm');
    expect(outcome.status).toBe('Made in this browser (wasm) · 40 ms · free');
  });

  it('says nothing fell back when the user asked for the cloud', async () => {
    const { gateway, orchestrator } = setup();
    gateway.routePlan = plan([step('runpod')], [{ target: 'browser', reason: 'mode=cloud excludes local targets' }]);
    gateway.jobStates = [jobView({ target: 'runpod', backend: 'runpod' })];
    const outcome = await orchestrator.generate({ ...DRAFT, mode: 'cloud' });
    expect(outcome.fallback).toBeNull();
  });

  it('reports a fallback inside the gateway job (server failed, RunPod made it)', async () => {
    const { gateway, orchestrator } = setup();
    gateway.routePlan = plan([step('server'), step('runpod')]);
    gateway.jobStates = [
      jobView({
        target: 'runpod',
        backend: 'runpod',
        attempts: [
          { target: 'server', error: 'timed out after 30 s', ms: 30000 },
          { target: 'runpod', error: null, ms: 900 },
        ],
      }),
    ];
    const outcome = await orchestrator.generate(DRAFT);
    expect(outcome.fallback).toBe('the server failed: sent to RunPod');
  });

  it('polls a queued job until it completes', async () => {
    const { gateway, orchestrator } = setup();
    gateway.routePlan = plan([step('runpod')]);
    gateway.jobStates = [
      jobView({ status: 'queued', target: null, imageUrl: null }),
      jobView({ status: 'running', target: 'runpod', imageUrl: null }),
      jobView({ target: 'runpod', backend: 'runpod' }),
    ];
    const outcome = await orchestrator.generate({ ...DRAFT, priority: 'final' });
    expect(outcome.source).toBe('runpod');
  });

  it('sends img2img finals with the draft as base64 and the strength', async () => {
    const { gateway, orchestrator } = setup();
    gateway.routePlan = plan([step('runpod')]);
    const initImage = new Blob([new Uint8Array([137, 80, 78, 71])], { type: 'image/png' });
    await orchestrator.generate({ ...DRAFT, priority: 'final', initImage, strength: 0.6 });
    expect(gateway.routed[0]?.request.img2img).toBe(true);
    expect(gateway.jobs[0]).toMatchObject({ priority: 'final', seed: 7, initImage: 'iVBORw==', strength: 0.6 });
  });

  it('throws a refusal with the gateway reason when the plan is refused', async () => {
    const { gateway, orchestrator } = setup();
    gateway.routePlan = { steps: [], refusals: [{ code: 'over-budget', reason: 'final refused (over budget)' }], skipped: [] };
    await expect(orchestrator.generate(DRAFT)).rejects.toMatchObject({ kind: 'refused', message: 'final refused (over budget)' });
  });

  it('fails with every attempt listed when the last step fails too', async () => {
    const { gateway, engine, orchestrator } = setup();
    gateway.routePlan = plan([step('browser'), step('server')]);
    engine.failures = [{ code: 'device-lost', message: 'lost' }];
    gateway.jobStates = [
      jobView({ status: 'failed', imageUrl: null, error: 'every target failed', attempts: [{ target: 'server', error: 'boom', ms: 1 }] }),
    ];
    const error = await orchestrator.generate(DRAFT).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrchestratorError);
    expect((error as OrchestratorError).attempts.map((a) => a.target)).toEqual(['browser', 'server']);
  });

  it('does not fall back when the engine says the request itself is invalid', async () => {
    const { gateway, engine, orchestrator } = setup();
    gateway.routePlan = plan([step('browser'), step('server')]);
    engine.failures = [{ code: 'invalid-size', message: 'width must be a multiple of 8' }];
    await expect(orchestrator.generate(DRAFT)).rejects.toMatchObject({ kind: 'failed' });
    expect(gateway.jobs).toEqual([]);
  });

  it('cancels the gateway job when the caller aborts', async () => {
    const { gateway, orchestrator } = setup();
    gateway.routePlan = plan([step('runpod')]);
    const controller = new AbortController();
    gateway.jobStates = [jobView({ status: 'running', imageUrl: null })];
    const original = gateway.job.bind(gateway);
    gateway.job = () => {
      controller.abort();
      return original();
    };
    await expect(orchestrator.generate(DRAFT, { signal: controller.signal })).rejects.toMatchObject({ kind: 'cancelled' });
    expect(gateway.cancelled).toEqual(['job-1']);
  });

  it('measures browser drafts as standard 512x512 one-step drafts for the next route', async () => {
    const { orchestrator } = setup();
    await orchestrator.generate(DRAFT);
    // 40 ms at 64x64 is 64 times less work than 512x512.
    expect(orchestrator.measuredDraftMs).toBe(40 * 64);
  });
});
