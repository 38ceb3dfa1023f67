/**
 * The gateway's `/v1` wire format, hand-written to match src/turbodraft/routing/schema.py and
 * src/turbodraft/gateway/schemas.py (camelCase on the wire). `api.test.ts` checks them against recorded
 * responses of the real gateway, so a renamed field fails a test rather than a user's generation.
 */

export type Priority = 'draft' | 'final';
export type Mode = 'auto' | 'local' | 'cloud';
export type Target = 'browser' | 'server' | 'runpod';
export type BackendHint = 'webgpu-fp16' | 'webgpu-fp32' | 'wasm' | 'cpu' | 'runpod';
export type ModelVariantId =
  | 'sd-turbo-fp16'
  | 'sd-turbo-fp16-taesd'
  | 'sd-turbo-fp32'
  | 'sd-turbo-int8'
  | 'tiny-sd-turbo'
  | 'tiny-sd-turbo-fp16'
  | 'tiny-sd-turbo-taesd'
  | 'sdxl';
/** The gateway's four states; the store's finer ones (verifying, paused) are folded into these. */
export type LocalModelState = 'not-downloaded' | 'downloading' | 'ready' | 'error';
export type RefusalCode = 'local-unavailable' | 'cloud-unavailable' | 'over-budget' | 'no-target';

export interface GenerationRequest {
  readonly priority: Priority;
  readonly mode: Mode;
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly img2img: boolean;
}

export interface RouteCapabilities {
  readonly hasWebGPU: boolean;
  readonly shaderF16: boolean;
  readonly isSoftwareAdapter: boolean;
  readonly adapterArchitecture: string | null;
  readonly crossOriginIsolated: boolean;
  readonly hardwareConcurrency: number | null;
  readonly localModel: { readonly variant: ModelVariantId; readonly state: LocalModelState } | null;
  readonly measuredDraftMs: number | null;
}

export interface RouteQuery {
  readonly request: GenerationRequest;
  readonly capabilities: RouteCapabilities | null;
}

export interface RouteStep {
  readonly target: Target;
  readonly backend: BackendHint;
  readonly variant: ModelVariantId;
  readonly reason: string;
  readonly estimatedCostUsd: number;
  readonly estimatedMs: number;
  readonly billed: boolean;
}

export interface RoutePlan {
  readonly steps: readonly RouteStep[];
  readonly refusals: readonly { readonly code: RefusalCode; readonly reason: string }[];
  readonly skipped: readonly { readonly target: Target; readonly reason: string }[];
}

export interface RouteAnswer {
  readonly plan: RoutePlan;
  readonly gateway: {
    readonly server: { readonly enabled: boolean; readonly model: string };
    readonly runpod: { readonly enabled: boolean; readonly mode: 'cloud' | 'local' };
    readonly dailyBudgetUsd: number | null;
  };
}

export interface JobCreate {
  readonly prompt: string;
  readonly priority: Priority;
  readonly mode: Mode;
  readonly width: number;
  readonly height: number;
  readonly steps?: number;
  readonly seed: number;
  /** Base64 PNG (or a data URL of one): img2img. */
  readonly initImage?: string;
  readonly strength?: number;
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface JobView {
  readonly id: string;
  readonly status: JobStatus;
  readonly priority: Priority;
  readonly target: Target | null;
  readonly backend: BackendHint | null;
  readonly variant: ModelVariantId | null;
  readonly billed: boolean;
  readonly attempts: readonly { readonly target: Target; readonly error: string | null; readonly ms: number }[];
  readonly fallbackReason: string | null;
  readonly imageUrl: string | null;
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly seed: number | null;
  readonly img2img: boolean;
  readonly costUsd: number;
  readonly billedSeconds: number;
  readonly delayMs: number | null;
  readonly executionMs: number | null;
  readonly totalMs: number | null;
  readonly error: string | null;
}

export interface UsageReport {
  readonly id: string;
  readonly priority: Priority;
  readonly backend: 'webgpu-fp16' | 'webgpu-fp32' | 'wasm';
  readonly variant: ModelVariantId;
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly img2img: boolean;
  readonly stagesMs: Readonly<Record<string, number>>;
  readonly totalMs: number;
}

export interface UsageRecorded {
  readonly id: string;
  readonly recorded: boolean;
}

/** Snake_case: the ledger's CostSummary is served as is. */
export interface PeriodTotals {
  readonly local_count: number;
  readonly cloud_count: number;
  readonly local_cost_usd: number;
  readonly cloud_cost_usd: number;
  readonly avoided_cost_usd: number;
  readonly total_count: number;
  readonly total_cost_usd: number;
}

export interface CostSummary {
  readonly generated_at: string;
  readonly today: PeriodTotals;
  readonly this_month: PeriodTotals;
  readonly savings: {
    readonly actual_cost_usd: number;
    readonly all_runpod_cost_usd: number;
    readonly saved_usd: number;
    readonly saved_fraction: number;
  };
}

/** The gateway's error body: `{"error": {"code", "message", "details"}, "detail": message}`. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: unknown };
  readonly detail: string;
}
