/**
 * The gateway's model pulls (`/v1/models/...`, src/turbodraft/gateway/model_pulls.py): the model panel asks
 * the gateway to fetch a model it does not have yet into its mirror, and follows the transfer. Wire types are
 * hand-written to match the gateway's PullView/PullsView (camelCase); `gatewayPulls.test.ts` checks them
 * against a response recorded from the real gateway.
 */

export type PullState = 'idle' | 'running' | 'done' | 'failed' | 'cancelled';
export type PullPhase = 'downloading' | 'building' | 'verifying';

export interface PullView {
  readonly variant: string;
  readonly state: PullState;
  readonly phase: PullPhase | null;
  readonly bytesDone: number;
  /** Null where some file's size is not known yet. */
  readonly bytesTotal: number | null;
  /** The file being worked on. */
  readonly file: string | null;
  /** Why it failed or stopped, in words. */
  readonly error: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** The CLI command that does the same (`turbodraft models pull <id>`). */
  readonly command: string;
}

export interface PullsInfo {
  /** Whether this gateway fetches models for its pages. */
  readonly allowed: boolean;
  /** Why not, in words (null when allowed). */
  readonly reason: string | null;
  readonly pulls: readonly PullView[];
}

export class PullError extends Error {
  override readonly name = 'PullError';
  /** HTTP status, 0 when the gateway could not be reached. */
  readonly status: number;
  /** The gateway's error code ("model-pulls-disabled", ...), or "network". */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class GatewayPulls {
  private readonly base: string;
  private readonly fetchFn: FetchLike;

  constructor(base = '/v1/models', fetchFn: FetchLike = (input, init) => fetch(input, init)) {
    this.base = base.replace(/\/+$/, '');
    this.fetchFn = fetchFn;
  }

  info(): Promise<PullsInfo> {
    return this.call<PullsInfo>('GET', '/pulls');
  }

  status(variant: string): Promise<PullView> {
    return this.call<PullView>('GET', `/${encodeURIComponent(variant)}/pull`);
  }

  /** Starts the pull, or joins the one already running. */
  start(variant: string): Promise<PullView> {
    return this.call<PullView>('POST', `/${encodeURIComponent(variant)}/pull`);
  }

  /** Stops it; the bytes fetched stay on the gateway, and `start` again resumes them. */
  cancel(variant: string): Promise<PullView> {
    return this.call<PullView>('POST', `/${encodeURIComponent(variant)}/pull/cancel`);
  }

  private async call<T>(method: string, path: string): Promise<T> {
    let response: Response;
    try {
      response = await this.fetchFn(this.base + path, { method, headers: { Accept: 'application/json' } });
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new PullError(0, 'network', `the gateway could not be reached (${detail})`);
    }
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      // an empty or non-JSON body: the status says enough below
    }
    if (!response.ok) {
      const error = isRecord(body) && isRecord(body.error) ? body.error : {};
      const code = typeof error.code === 'string' ? error.code : `http-${String(response.status)}`;
      const message = typeof error.message === 'string' ? error.message : `the gateway answered HTTP ${String(response.status)}`;
      throw new PullError(response.status, code, message);
    }
    return body as T;
  }
}
