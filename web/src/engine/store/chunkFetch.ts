/**
 * One chunk of a file: a Range request, the whole body, and its sha256 checked against the manifest's, all
 * where this runs (a chunk worker, or the store worker itself where nested workers are missing). Plain data
 * in and out, so it crosses a worker boundary unchanged (the bytes are transferred, not copied).
 */
import { RETRYABLE_STATUS } from './opfsFile';
import { parseContentRange } from './rate';

export interface ChunkRequest {
  readonly url: string;
  readonly start: number;
  /** Inclusive, as in a Range header. */
  readonly end: number;
  readonly fileSize: number;
  readonly sha256: string;
}

export type ChunkResult =
  | { readonly kind: 'verified'; readonly bytes: ArrayBuffer }
  /** The body hashed to `actual`: the bytes are dropped here, so they never reach the disk. */
  | { readonly kind: 'mismatch'; readonly actual: string }
  /** A network error, a retryable status, a short body or a wrong Content-Range: ask again after a pause. */
  | { readonly kind: 'retry' }
  /** The server answered 200: it ignores Range. */
  | { readonly kind: 'no-range' }
  | { readonly kind: 'http-error'; readonly status: number }
  | { readonly kind: 'aborted' };

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

export async function fetchChunk(request: ChunkRequest, signal: AbortSignal): Promise<ChunkResult> {
  const { url, start, end, fileSize } = request;
  let response: Response;
  try {
    // no-store: the HTTP cache would keep a second copy of a multi-GB file.
    response = await fetch(url, { headers: { Range: `bytes=${String(start)}-${String(end)}` }, signal, cache: 'no-store' });
  } catch {
    return signal.aborted ? { kind: 'aborted' } : { kind: 'retry' };
  }
  const drop = async (result: ChunkResult): Promise<ChunkResult> => {
    await response.body?.cancel().catch(() => undefined);
    return result;
  };
  if (response.status === 200) return drop({ kind: 'no-range' });
  if (RETRYABLE_STATUS.has(response.status)) return drop({ kind: 'retry' });
  if (response.status !== 206) return drop({ kind: 'http-error', status: response.status });
  const range = parseContentRange(response.headers.get('Content-Range'));
  if (range?.start !== start || range.end !== end || (range.total !== null && range.total !== fileSize)) {
    return drop({ kind: 'retry' });
  }
  let bytes: ArrayBuffer;
  try {
    bytes = await response.arrayBuffer();
  } catch {
    // The connection broke mid-body: this chunk is asked for again.
    return signal.aborted ? { kind: 'aborted' } : { kind: 'retry' };
  }
  if (bytes.byteLength !== end - start + 1) return { kind: 'retry' };
  const actual = await sha256Hex(bytes);
  return actual === request.sha256 ? { kind: 'verified', bytes } : { kind: 'mismatch', actual };
}
