/**
 * A chunk worker: fetches and verifies chunks for the store worker (chunkFetch.ts), one at a time. Receiving
 * a response body costs its thread more CPU than anything else in a download, so chunks in flight on separate
 * threads let a download use more than one core; the store worker only writes what comes back.
 */
import { fetchChunk, type ChunkRequest, type ChunkResult } from './chunkFetch';

export type ChunkWorkerMessage = { readonly request: ChunkRequest } | { readonly abort: true };

/** What the worker posts: progress while the body arrives, then the result. */
export type ChunkWorkerReply = { readonly progress: number } | { readonly result: ChunkResult };

let controller = new AbortController();

function transferables(result: ChunkResult): ArrayBuffer[] {
  if (result.kind === 'verified') return [result.bytes];
  if ((result.kind === 'retry' || result.kind === 'aborted') && result.partial !== undefined) return [result.partial];
  return [];
}

self.onmessage = (event: MessageEvent<ChunkWorkerMessage>): void => {
  const message = event.data;
  if ('abort' in message) {
    controller.abort();
    return;
  }
  controller = new AbortController();
  const onProgress = (received: number): void => {
    self.postMessage({ progress: received } satisfies ChunkWorkerReply);
  };
  void fetchChunk(message.request, controller.signal, onProgress).then((result: ChunkResult) => {
    self.postMessage({ result } satisfies ChunkWorkerReply, { transfer: transferables(result) });
  });
};
