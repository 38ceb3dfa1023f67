/**
 * Runs one generation the way the gateway's routing plan says: asks `/v1/route` with this browser's
 * capability report, tries the plan's steps in order (the browser engine for `browser`, a gateway job for
 * `server`/`runpod`), falls back along the plan when a step fails, reports browser-made images to `/v1/usage`,
 * and says in words which fallback was taken and why.
 *
 * All I/O sits behind ports (GatewayPort, LocalEnginePort, capabilities), so this runs under vitest with fakes.
 * Once a server-side step is reached the gateway job follows the rest of the plan itself (it plans the same
 * request without the browser), so the orchestrator hands over once and only the browser steps are its own.
 */
import type {
  BackendHint,
  JobView,
  Mode,
  ModelVariantId,
  Priority,
  RouteAnswer,
  RouteCapabilities,
  RoutePlan,
  RouteStep,
  Target,
} from './api';
import type { GatewayPort } from './gateway';
import {
  browserSkipText,
  fallbackAction,
  localFailureText,
  statusLine,
  targetName,
  type RunPodMode,
} from './messages';
import type { UsageReporter } from './usage';

export interface GenerateInput {
  readonly prompt: string;
  readonly seed: number;
  readonly priority: Priority;
  readonly mode: Mode;
  readonly width: number;
  readonly height: number;
  /** Default: 1 for drafts (SD-Turbo); the gateway's default for finals. */
  readonly steps?: number;
  /** img2img: the image to start from (a PNG) and how much of the schedule runs. */
  readonly initImage?: Blob;
  readonly strength?: number;
}

export interface LocalRequest {
  readonly prompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly width: number;
  readonly height: number;
  readonly model: ModelVariantId;
  readonly backend: BackendHint;
  readonly initImage?: Blob;
  readonly strength?: number;
}

export interface LocalResult {
  readonly png: Blob;
  /** The engine's backend name: 'webgpu-f16' | 'webgpu' | 'wasm'. */
  readonly backend: string;
  readonly model: string;
  readonly steps: number;
  /** Milliseconds per stage, with `total`. */
  readonly timings: Readonly<Record<string, number>>;
}

/** A failure of the local engine: `code` is the engine's (EngineError) code. */
export interface LocalFailure {
  readonly code: string;
  readonly message: string;
}

export interface LocalEnginePort {
  generate(request: LocalRequest, onProgress?: (stage: string) => void): Promise<LocalResult>;
}

export interface Attempt {
  readonly target: Target;
  readonly error: string | null;
}

export interface GenerationOutcome {
  readonly image: Blob;
  readonly source: Target;
  readonly backend: string;
  readonly variant: string;
  readonly seed: number;
  readonly steps: number;
  readonly width: number;
  readonly height: number;
  readonly costUsd: number;
  readonly totalMs: number;
  readonly timings: Readonly<Record<string, number>>;
  readonly attempts: readonly Attempt[];
  /** The fallback taken and why ("device lost: sent to RunPod"); null when the first choice made it. */
  readonly fallback: string | null;
  /** "Made in this browser (wasm) · 412 ms · free" */
  readonly status: string;
  readonly plan: RoutePlan;
  /** The ledger id of a browser-made image (reported to /v1/usage), or the gateway job id. */
  readonly generationId: string;
}

export type OrchestratorErrorKind = 'refused' | 'failed' | 'cancelled';

export class OrchestratorError extends Error {
  override readonly name = 'OrchestratorError';
  readonly kind: OrchestratorErrorKind;
  readonly attempts: readonly Attempt[];

  constructor(kind: OrchestratorErrorKind, message: string, attempts: readonly Attempt[] = []) {
    super(message);
    this.kind = kind;
    this.attempts = attempts;
  }
}

export type ProgressEvent =
  | { readonly kind: 'planned'; readonly plan: RoutePlan }
  | { readonly kind: 'trying'; readonly step: RouteStep; readonly note: string | null }
  | { readonly kind: 'stage'; readonly target: Target; readonly stage: string };

export interface OrchestratorDeps {
  readonly gateway: GatewayPort;
  readonly engine: LocalEnginePort;
  /** The capability report to route with (it includes the local model's state). */
  readonly capabilities: () => Promise<RouteCapabilities>;
  readonly usage: UsageReporter;
  readonly newId: () => string;
  readonly now?: () => number;
  /** Long-poll length for gateway jobs. */
  readonly pollMs?: number;
}

export interface GenerateOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ProgressEvent) => void;
}

const DEFAULT_POLL_MS = 25_000;
const DEFAULT_STRENGTH = 0.5;
/** The "standard draft" the policy's measuredDraftMs refers to. */
const STANDARD_DRAFT_PIXELS = 512 * 512;

const ENGINE_BACKEND_HINT: Readonly<Record<string, 'webgpu-fp16' | 'webgpu-fp32' | 'wasm'>> = {
  'webgpu-f16': 'webgpu-fp16',
  webgpu: 'webgpu-fp32',
  wasm: 'wasm',
};

/** The engine's backend name for a plan's hint. */
export function engineBackend(hint: BackendHint): 'webgpu-f16' | 'webgpu' | 'wasm' | undefined {
  if (hint === 'webgpu-fp16') return 'webgpu-f16';
  if (hint === 'webgpu-fp32') return 'webgpu';
  if (hint === 'wasm') return 'wasm';
  return undefined;
}

function isLocalFailure(error: unknown): error is LocalFailure {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function blobToBase64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) text += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(text);
}

/** Why a browser image was made the way it was, when that was not the first choice. */
function browserFallback(
  attempts: readonly Attempt[],
  why: string | null,
  caps: RouteCapabilities,
  backend: string,
  priority: Priority,
): string | null {
  // An earlier browser step (another backend) failed.
  if (attempts.length > 1 && why !== null) return `${why}: ${fallbackAction('browser', priority)}`;
  // wasm instead of WebGPU is a fallback the user should know about: it is much slower on real models.
  if (backend === 'wasm' && !caps.hasWebGPU) return `no WebGPU: ${fallbackAction('browser', priority)} on wasm`;
  return null;
}

export class Orchestrator {
  private readonly deps: OrchestratorDeps;
  private measured: number | null = null;

  constructor(deps: OrchestratorDeps) {
    this.deps = deps;
  }

  /** The last browser draft's time scaled to the standard 512x512 1-step draft (the policy's input). */
  get measuredDraftMs(): number | null {
    return this.measured;
  }

  /** The plan for `input` without running it (the UI uses it to say where a button would send a request). */
  async plan(input: Omit<GenerateInput, 'prompt' | 'seed'>, signal?: AbortSignal): Promise<RouteAnswer> {
    const caps = await this.deps.capabilities();
    return this.deps.gateway.route(
      {
        request: {
          priority: input.priority,
          mode: input.mode,
          width: input.width,
          height: input.height,
          steps: input.steps ?? (input.priority === 'draft' ? 1 : 25),
          img2img: input.initImage !== undefined,
        },
        capabilities: caps,
      },
      signal,
    );
  }

  async generate(input: GenerateInput, options: GenerateOptions = {}): Promise<GenerationOutcome> {
    const { signal, onProgress } = options;
    const caps = await this.deps.capabilities();
    const answer = await this.deps.gateway.route(
      {
        request: {
          priority: input.priority,
          mode: input.mode,
          width: input.width,
          height: input.height,
          steps: input.steps ?? (input.priority === 'draft' ? 1 : 25),
          img2img: input.initImage !== undefined,
        },
        capabilities: caps,
      },
      signal,
    );
    const plan = answer.plan;
    const runpodMode: RunPodMode = answer.gateway.runpod.mode;
    onProgress?.({ kind: 'planned', plan });
    if (plan.steps.length === 0) {
      const reason = plan.refusals.map((r) => r.reason).join('; ') || 'no target can serve this request';
      throw new OrchestratorError('refused', reason);
    }

    const attempts: Attempt[] = [];
    // Why the browser is not doing this one, when it would have been the natural place (a draft).
    let why: string | null = input.priority === 'draft' ? browserSkipText(plan, caps) : null;
    for (const step of plan.steps) {
      this.throwIfAborted(signal, attempts);
      if (step.target === 'browser') {
        onProgress?.({ kind: 'trying', step, note: null });
        try {
          return await this.runBrowser(input, step, plan, attempts, why, caps, onProgress);
        } catch (error) {
          if (signal?.aborted === true) throw new OrchestratorError('cancelled', 'cancelled', attempts);
          const code = isLocalFailure(error) ? error.code : 'inference-failed';
          if (code === 'cancelled' || code === 'superseded') {
            throw new OrchestratorError('cancelled', describe(error), attempts);
          }
          // A request the engine rejects as invalid would fail on any target the same way.
          if (code.startsWith('invalid-')) throw new OrchestratorError('failed', describe(error), attempts);
          attempts.push({ target: 'browser', error: `${localFailureText(code)}: ${describe(error)}` });
          why = localFailureText(code);
        }
        continue;
      }
      const note = why === null ? null : `${why}: ${fallbackAction(step.target, input.priority, runpodMode)}`;
      onProgress?.({ kind: 'trying', step, note });
      return await this.runGateway(input, step, plan, attempts, why, runpodMode, signal);
    }
    const summary = attempts.map((a) => `${a.target}: ${a.error ?? 'failed'}`).join('; ');
    throw new OrchestratorError('failed', `every target failed (${summary})`, attempts);
  }

  private throwIfAborted(signal: AbortSignal | undefined, attempts: readonly Attempt[]): void {
    if (signal?.aborted === true) throw new OrchestratorError('cancelled', 'cancelled', attempts);
  }

  private async runBrowser(
    input: GenerateInput,
    step: RouteStep,
    plan: RoutePlan,
    attempts: Attempt[],
    why: string | null,
    caps: RouteCapabilities,
    onProgress?: (event: ProgressEvent) => void,
  ): Promise<GenerationOutcome> {
    const now = this.deps.now ?? (() => performance.now());
    const started = now();
    const steps = input.steps ?? 1;
    const result = await this.deps.engine.generate(
      {
        prompt: input.prompt,
        seed: input.seed,
        steps,
        width: input.width,
        height: input.height,
        model: step.variant,
        backend: step.backend,
        ...(input.initImage === undefined
          ? {}
          : { initImage: input.initImage, strength: input.strength ?? DEFAULT_STRENGTH }),
      },
      (stage) => onProgress?.({ kind: 'stage', target: 'browser', stage }),
    );
    const totalMs = result.timings.total ?? now() - started;
    attempts.push({ target: 'browser', error: null });
    const computeMs = totalMs - (result.timings.load ?? 0);
    if (computeMs > 0 && input.initImage === undefined) {
      this.measured = (computeMs * STANDARD_DRAFT_PIXELS) / (input.width * input.height) / result.steps;
    }
    const id = this.deps.newId();
    const hint = ENGINE_BACKEND_HINT[result.backend] ?? 'wasm';
    void this.deps.usage.report({
      id,
      priority: input.priority,
      backend: hint,
      variant: step.variant,
      width: input.width,
      height: input.height,
      steps: result.steps,
      img2img: input.initImage !== undefined,
      stagesMs: result.timings,
      totalMs,
    });
    return {
      image: result.png,
      source: 'browser',
      backend: result.backend,
      variant: result.model,
      seed: input.seed,
      steps: result.steps,
      width: input.width,
      height: input.height,
      costUsd: 0,
      totalMs,
      timings: result.timings,
      attempts,
      fallback: browserFallback(attempts, why, caps, result.backend, input.priority),
      status: statusLine({ source: 'browser', backend: result.backend, totalMs, costUsd: 0 }),
      plan,
      generationId: id,
    };
  }

  private async runGateway(
    input: GenerateInput,
    step: RouteStep,
    plan: RoutePlan,
    attempts: Attempt[],
    why: string | null,
    runpodMode: RunPodMode,
    signal?: AbortSignal,
  ): Promise<GenerationOutcome> {
    const { gateway } = this.deps;
    const initImage = input.initImage === undefined ? undefined : await blobToBase64(input.initImage);
    let job = await gateway.createJob(
      {
        prompt: input.prompt,
        priority: input.priority,
        // A server-side job after a browser failure keeps the user's mode; the gateway plans without the browser.
        mode: input.mode,
        width: input.width,
        height: input.height,
        seed: input.seed,
        ...(input.steps === undefined ? {} : { steps: input.steps }),
        ...(initImage === undefined ? {} : { initImage, strength: input.strength ?? DEFAULT_STRENGTH }),
      },
      signal,
    );
    const onAbort = (): void => {
      void gateway.cancelJob(job.id).catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (job.status === 'queued' || job.status === 'running') {
        this.throwIfAborted(signal, attempts);
        job = await gateway.job(job.id, this.deps.pollMs ?? DEFAULT_POLL_MS, signal);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    for (const attempt of job.attempts) attempts.push({ target: attempt.target, error: attempt.error });
    if (job.status === 'cancelled') throw new OrchestratorError('cancelled', 'cancelled', attempts);
    if (job.status !== 'completed' || job.imageUrl === null) {
      throw new OrchestratorError('failed', job.error ?? `the ${step.target} job ${job.status}`, attempts);
    }
    const image = await gateway.image(job.imageUrl, signal);
    return this.gatewayOutcome(input, job, image, plan, attempts, why, runpodMode);
  }

  private gatewayOutcome(
    input: GenerateInput,
    job: JobView,
    image: Blob,
    plan: RoutePlan,
    attempts: readonly Attempt[],
    why: string | null,
    runpodMode: RunPodMode,
  ): GenerationOutcome {
    const source: Target = job.target ?? 'server';
    const totalMs = job.totalMs ?? 0;
    // Inside the job, a failed server-side attempt hands on to the next: that is a fallback too.
    const innerFailure = job.attempts.find((a) => a.error !== null);
    const cause = why ?? (innerFailure === undefined ? null : `${targetName(innerFailure.target, runpodMode)} failed`);
    return {
      image,
      source,
      backend: job.backend ?? source,
      variant: job.variant ?? 'unknown',
      seed: job.seed ?? input.seed,
      steps: job.steps,
      width: job.width,
      height: job.height,
      costUsd: job.costUsd,
      totalMs,
      timings: {
        total: totalMs,
        ...(job.executionMs === null ? {} : { execution: job.executionMs }),
        ...(job.delayMs === null ? {} : { queue: job.delayMs }),
      },
      attempts,
      fallback: cause === null ? null : `${cause}: ${fallbackAction(source, input.priority, runpodMode)}`,
      status: statusLine({ source, backend: job.backend ?? source, totalMs, costUsd: job.costUsd, runpodMode }),
      plan,
      generationId: job.id,
    };
  }
}
