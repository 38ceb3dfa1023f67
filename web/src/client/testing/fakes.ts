/** Fakes of the orchestrator's ports for unit tests: a scripted gateway and a scripted local engine. */
import type {
  CostSummary,
  JobCreate,
  JobView,
  RouteAnswer,
  RouteCapabilities,
  RoutePlan,
  RouteQuery,
  RouteStep,
  UsageRecorded,
  UsageReport,
} from '../api';
import type { GatewayPort } from '../gateway';
import type { LocalEnginePort, LocalRequest, LocalResult } from '../orchestrator';

export const CAPS: RouteCapabilities = {
  hasWebGPU: true,
  shaderF16: false,
  isSoftwareAdapter: false,
  adapterArchitecture: null,
  crossOriginIsolated: true,
  hardwareConcurrency: 4,
  localModel: { variant: 'tiny-sd-turbo', state: 'ready' },
  measuredDraftMs: null,
};

export function step(target: RouteStep['target'], extra: Partial<RouteStep> = {}): RouteStep {
  const backend = target === 'browser' ? 'webgpu-fp32' : target === 'server' ? 'cpu' : 'runpod';
  return {
    target,
    backend,
    variant: target === 'runpod' ? 'sdxl' : 'tiny-sd-turbo',
    reason: `${target}: test`,
    estimatedCostUsd: target === 'runpod' ? 0.0019 : 0,
    estimatedMs: 100,
    billed: target === 'runpod',
    ...extra,
  };
}

export function plan(steps: RouteStep[], skipped: RoutePlan['skipped'] = []): RoutePlan {
  return { steps, refusals: [], skipped };
}

export function jobView(extra: Partial<JobView> = {}): JobView {
  return {
    id: 'job-1',
    status: 'completed',
    priority: 'draft',
    target: 'server',
    backend: 'cpu',
    variant: 'tiny-sd-turbo',
    billed: false,
    attempts: [{ target: 'server', error: null, ms: 80 }],
    fallbackReason: null,
    imageUrl: '/v1/jobs/job-1/image',
    width: 64,
    height: 64,
    steps: 1,
    seed: 7,
    img2img: false,
    costUsd: 0,
    billedSeconds: 0,
    delayMs: null,
    executionMs: 70,
    totalMs: 90,
    error: null,
    ...extra,
  };
}

export class FakeGateway implements GatewayPort {
  routePlan: RoutePlan = plan([step('browser')]);
  runpodMode: 'cloud' | 'local' = 'cloud';
  /** Job states returned by createJob and then each poll, in order (the last repeats). */
  jobStates: JobView[] = [jobView()];
  readonly routed: RouteQuery[] = [];
  readonly jobs: JobCreate[] = [];
  readonly usage: UsageReport[] = [];
  readonly cancelled: string[] = [];
  usageFailures = 0;
  private polls = 0;

  route(query: RouteQuery): Promise<RouteAnswer> {
    this.routed.push(query);
    return Promise.resolve({
      plan: this.routePlan,
      gateway: {
        server: { enabled: true, model: 'tiny-sd-turbo' },
        runpod: { enabled: true, mode: this.runpodMode },
        dailyBudgetUsd: null,
      },
    });
  }

  createJob(job: JobCreate): Promise<JobView> {
    this.jobs.push(job);
    this.polls = 0;
    return Promise.resolve(this.nextState());
  }

  job(): Promise<JobView> {
    return Promise.resolve(this.nextState());
  }

  image(): Promise<Blob> {
    return Promise.resolve(new Blob(['server-png'], { type: 'image/png' }));
  }

  cancelJob(id: string): Promise<void> {
    this.cancelled.push(id);
    return Promise.resolve();
  }

  reportUsage(report: UsageReport): Promise<UsageRecorded> {
    if (this.usageFailures > 0) {
      this.usageFailures--;
      return Promise.reject(new Error('gateway away'));
    }
    const fresh = !this.usage.some((u) => u.id === report.id);
    this.usage.push(report);
    return Promise.resolve({ id: report.id, recorded: fresh });
  }

  costs(): Promise<CostSummary> {
    return Promise.reject(new Error('not used'));
  }

  private nextState(): JobView {
    const index = Math.min(this.polls, this.jobStates.length - 1);
    this.polls++;
    const state = this.jobStates[index];
    if (state === undefined) throw new Error('FakeGateway has no job states');
    return state;
  }
}

export class FakeEngine implements LocalEnginePort {
  readonly requests: LocalRequest[] = [];
  /** Errors to throw, one per call, before succeeding ({code, message} like an EngineError). */
  failures: { code: string; message: string }[] = [];
  backend = 'webgpu';

  generate(request: LocalRequest, onProgress?: (stage: string) => void): Promise<LocalResult> {
    this.requests.push(request);
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(Object.assign(new Error(failure.message), failure));
    onProgress?.('unet');
    return Promise.resolve({
      png: new Blob(['browser-png'], { type: 'image/png' }),
      backend: this.backend,
      model: request.model,
      steps: request.steps,
      timings: { tokenize: 1, text_encoder: 5, unet: 20, vae_decoder: 10, total: 40 },
    });
  }
}
