/**
 * A chunk worker: fetches and verifies chunks for the store worker (chunkFetch.ts), one at a time. Receiving
 * a response body costs its thread more CPU than anything else in a download, so chunks in flight on separate
 * threads let a download use more than one core; the store worker only writes what comes back verified.
 */
import { fetchChunk, type ChunkRequest, type ChunkResult } from './chunkFetch';

export type ChunkWorkerMessage = { readonly request: ChunkRequest } | { readonly abort: true };

let controller = new AbortController();

self.onmessage = (event: MessageEvent<ChunkWorkerMessage>): void => {
  const message = event.data;
  if ('abort' in message) {
    controller.abort();
    return;
  }
  controller = new AbortController();
  void fetchChunk(message.request, controller.signal).then((result: ChunkResult) => {
    const transfer = result.kind === 'verified' ? [result.bytes] : [];
    self.postMessage(result, { transfer });
  });
};
