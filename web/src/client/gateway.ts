/**
 * The gateway over HTTP: one method per `/v1` route, errors as `GatewayError` with the gateway's stable code.
 * `fetch` is injected so unit tests can answer with recorded bodies.
 */
import type {
  CostSummary,
  ErrorBody,
  JobCreate,
  JobView,
  RouteAnswer,
  RouteQuery,
  UsageRecorded,
  UsageReport,
} from './api';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  /** HTTP status; 0 when the gateway could not be reached at all. */
  readonly status: number;
  /** The gateway's machine-readable code ("over-budget", "rate_limited", ...), or "network". */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** What the orchestrator needs from the gateway (the real one below, fakes in tests). */
export interface GatewayPort {
  route(query: RouteQuery, signal?: AbortSignal): Promise<RouteAnswer>;
  createJob(job: JobCreate, signal?: AbortSignal): Promise<JobView>;
  /** Long-polls up to `waitMs` for the job to end. */
  job(id: string, waitMs: number, signal?: AbortSignal): Promise<JobView>;
  image(url: string, signal?: AbortSignal): Promise<Blob>;
  cancelJob(id: string): Promise<void>;
  reportUsage(report: UsageReport): Promise<UsageRecorded>;
  costs(): Promise<CostSummary>;
}

export interface GatewayOptions {
  readonly baseUrl?: string;
  /** Sent as X-User-Id: the user whose ledger and budget a request counts against. */
  readonly userId?: string;
  readonly token?: string;
  readonly fetch?: FetchLike;
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string';
}

export class HttpGateway implements GatewayPort {
  private readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly fetchFn: FetchLike;

  constructor(options: GatewayOptions = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.headers = {
      ...(options.userId === undefined ? {} : { 'X-User-Id': options.userId }),
      ...(options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` }),
    };
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  }

  route(query: RouteQuery, signal?: AbortSignal): Promise<RouteAnswer> {
    return this.json<RouteAnswer>('POST', '/v1/route', query, signal);
  }

  createJob(job: JobCreate, signal?: AbortSignal): Promise<JobView> {
    return this.json<JobView>('POST', '/v1/jobs', job, signal);
  }

  job(id: string, waitMs: number, signal?: AbortSignal): Promise<JobView> {
    const wait = Math.max(0, Math.round(waitMs));
    return this.json<JobView>('GET', `/v1/jobs/${encodeURIComponent(id)}?wait=${String(wait)}`, undefined, signal);
  }

  async image(url: string, signal?: AbortSignal): Promise<Blob> {
    const response = await this.send('GET', url, undefined, signal);
    return response.blob();
  }

  async cancelJob(id: string): Promise<void> {
    await this.send('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, undefined);
  }

  reportUsage(report: UsageReport): Promise<UsageRecorded> {
    return this.json<UsageRecorded>('POST', '/v1/usage', report);
  }

  costs(): Promise<CostSummary> {
    return this.json<CostSummary>('GET', '/v1/costs?days=1');
  }

  private async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.send(method, path, body, signal);
    return (await response.json()) as T;
  }

  private async send(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const url = path.startsWith('http') ? path : this.baseUrl + path;
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      if (signal?.aborted === true) throw error;
      const detail = error instanceof Error ? error.message : String(error);
      throw new GatewayError(0, 'network', `the gateway could not be reached (${detail})`);
    }
    if (response.ok) return response;
    let parsed: unknown = null;
    try {
      parsed = await response.json();
    } catch {
      // Not JSON (a proxy's error page): the status says enough.
    }
    if (isErrorBody(parsed)) throw new GatewayError(response.status, parsed.error.code, parsed.error.message);
    throw new GatewayError(response.status, 'http_error', `${method} ${path} answered HTTP ${String(response.status)}`);
  }
}
