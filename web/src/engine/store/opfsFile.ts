/**
 * What both download paths need from OPFS and the network: the worker-only sync access handle, opened
 * exclusively, and an abortable sleep for backoff.
 */
import type { ServedFile } from './served';
import { StoreError } from './types';

// Worker-only OPFS APIs: TypeScript lists them in its WebWorker lib, which this (DOM) project cannot include.
export interface FileSystemSyncAccessHandle {
  read(buffer: Uint8Array, options?: { at?: number }): number;
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

export interface WorkerFileHandle extends FileSystemFileHandle {
  createSyncAccessHandle(): Promise<FileSystemSyncAccessHandle>;
  // In Chromium's OPFS; missing from TypeScript's DOM lib.
  move(destination: FileSystemDirectoryHandle, name: string): Promise<void>;
}

/** Statuses worth asking again after a pause; anything else that is not 206/200 is an error. */
export const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** Writes all of `bytes` at `at` (a sync access handle may write less than asked). */
export function writeAt(handle: FileSystemSyncAccessHandle, bytes: Uint8Array, at: number): void {
  let written = 0;
  while (written < bytes.byteLength) {
    written += handle.write(bytes.subarray(written), { at: at + written });
  }
}

/**
 * The sync access handle is exclusive. Right after a reload the previous page's worker may still hold it for a
 * moment, so wait a little before calling the file busy (then it really is: another tab downloads it).
 */
export async function openExclusive(
  handle: WorkerFileHandle,
  file: ServedFile,
  signal: AbortSignal,
): Promise<FileSystemSyncAccessHandle> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await handle.createSyncAccessHandle();
    } catch (error) {
      const locked = error instanceof DOMException && error.name === 'NoModificationAllowedError';
      if (!locked || attempt >= 20) {
        throw StoreError.wrap(error, 'busy', `${file.path} is being written elsewhere (another tab?)`, file.path);
      }
      await sleep(100, signal);
    }
  }
}
