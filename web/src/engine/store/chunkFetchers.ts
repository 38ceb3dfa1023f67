/**
 * The store worker's pool of chunk workers (chunkWorker.ts), one per chunk in flight, kept between files.
 * Where a worker cannot start workers of its own, chunks are fetched on the store worker's thread instead:
 * slower, same results.
 */
import { fetchChunk, type ChunkProgress, type ChunkRequest, type ChunkResult } from './chunkFetch';
import type { ChunkWorkerMessage, ChunkWorkerReply } from './chunkWorker';

export interface ChunkFetcher {
  fetch(request: ChunkRequest, signal: AbortSignal, onProgress?: ChunkProgress): Promise<ChunkResult>;
}

class WorkerFetcher implements ChunkFetcher {
  private readonly worker: Worker;
  /** The worker failed (e.g. its script would not load): fetch on this thread from then on. */
  private broken = false;

  constructor(worker: Worker) {
    this.worker = worker;
  }

  fetch(request: ChunkRequest, signal: AbortSignal, onProgress?: ChunkProgress): Promise<ChunkResult> {
    if (this.broken) return fetchChunk(request, signal, onProgress);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.worker.postMessage({ abort: true } satisfies ChunkWorkerMessage);
      };
      this.worker.onmessage = (event: MessageEvent<ChunkWorkerReply>): void => {
        const reply = event.data;
        if ('progress' in reply) {
          onProgress?.(reply.progress);
          return;
        }
        signal.removeEventListener('abort', onAbort);
        resolve(reply.result);
      };
      this.worker.onerror = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.broken = true;
        this.worker.terminate();
        // The prefix went to the dead worker; without it the whole chunk is asked for (and checked) again.
        resolve(fetchChunk({ ...request, prefix: undefined }, signal, onProgress));
      };
      if (signal.aborted) {
        resolve({ kind: 'aborted' });
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      const transfer = request.prefix === undefined ? [] : [request.prefix];
      this.worker.postMessage({ request } satisfies ChunkWorkerMessage, { transfer });
    });
  }
}

const inThread: ChunkFetcher = { fetch: fetchChunk };
const pool: ChunkFetcher[] = [];

function startWorker(): ChunkFetcher {
  if (typeof Worker === 'undefined') return inThread;
  try {
    return new WorkerFetcher(new Worker(new URL('./chunkWorker.ts', import.meta.url), { type: 'module', name: 'turbodraft-chunk' }));
  } catch {
    return inThread;
  }
}

/** `count` fetchers, each to be used for one request at a time. */
export function chunkFetchers(count: number): ChunkFetcher[] {
  while (pool.length < count) pool.push(startWorker());
  return pool.slice(0, count);
}
