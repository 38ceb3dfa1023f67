/**
 * One chunk of a file: a Range request, the body read as it streams (progress reported as it arrives), and the
 * whole chunk's sha256 checked against the manifest's, all where this runs (a chunk worker, or the store
 * worker itself where nested workers are missing). Plain data in and out, so it crosses a worker boundary
 * unchanged (the bytes are transferred, not copied).
 *
 * A chunk may start from a prefix already held (bytes an earlier, interrupted request delivered): only the
 * rest is asked for, and the hash covers prefix and rest together. An interrupted request hands back what it
 * received as `partial`, so a pause or a broken connection loses no fetched byte.
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
  /** The chunk's first bytes, already received (unverified); the request asks for what follows them. */
  readonly prefix?: ArrayBuffer;
}

export type ChunkResult =
  | { readonly kind: 'verified'; readonly bytes: ArrayBuffer }
  /** The body hashed to `actual`: the bytes are dropped here, so they never reach the disk. */
  | { readonly kind: 'mismatch'; readonly actual: string; readonly hadPrefix: boolean }
  /**
   * A network error, a retryable status, a short body or a wrong Content-Range: ask again after a pause.
   * `partial`: the chunk's bytes received so far (prefix included), when more than the prefix arrived.
   */
  | { readonly kind: 'retry'; readonly partial?: ArrayBuffer }
  /** The server answered 200: it ignores Range. */
  | { readonly kind: 'no-range' }
  | { readonly kind: 'http-error'; readonly status: number }
  | { readonly kind: 'aborted'; readonly partial?: ArrayBuffer };

/** Called with the chunk's bytes in hand (prefix included) as they arrive, at most every PROGRESS_MS. */
export type ChunkProgress = (received: number) => void;

const PROGRESS_MS = 200;

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

export async function fetchChunk(
  request: ChunkRequest,
  signal: AbortSignal,
  onProgress: ChunkProgress = () => undefined,
): Promise<ChunkResult> {
  const { url, start, end, fileSize } = request;
  const length = end - start + 1;
  const held = Math.min(request.prefix?.byteLength ?? 0, length - 1);
  const buffer = new Uint8Array(length);
  if (request.prefix !== undefined && held > 0) buffer.set(new Uint8Array(request.prefix, 0, held));
  let got = held;
  const partial = (): ArrayBuffer | undefined => (got > held ? buffer.slice(0, got).buffer : undefined);

  let response: Response;
  try {
    // no-store: the HTTP cache would keep a second copy of a multi-GB file.
    response = await fetch(url, { headers: { Range: `bytes=${String(start + held)}-${String(end)}` }, signal, cache: 'no-store' });
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
  if (range?.start !== start + held || range.end !== end || (range.total !== null && range.total !== fileSize)) {
    return drop({ kind: 'retry' });
  }
  if (response.body === null) return { kind: 'retry' };
  const reader = response.body.getReader();
  let reported = performance.now();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.byteLength > length) return await drop({ kind: 'retry' }); // more than asked for: ask again
      buffer.set(value, got);
      got += value.byteLength;
      const now = performance.now();
      if (now - reported >= PROGRESS_MS) {
        reported = now;
        onProgress(got);
      }
    }
  } catch {
    // The connection broke (or the download was paused) mid-body: what arrived is intact (TCP), keep it.
    const kept = partial();
    if (signal.aborted) return kept === undefined ? { kind: 'aborted' } : { kind: 'aborted', partial: kept };
    return kept === undefined ? { kind: 'retry' } : { kind: 'retry', partial: kept };
  }
  if (got !== length) {
    const kept = partial();
    return kept === undefined ? { kind: 'retry' } : { kind: 'retry', partial: kept };
  }
  onProgress(got);
  const actual = await sha256Hex(buffer.buffer);
  return actual === request.sha256 ? { kind: 'verified', bytes: buffer.buffer } : { kind: 'mismatch', actual, hadPrefix: held > 0 };
}
