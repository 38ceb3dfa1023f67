import { afterEach, describe, expect, it, vi } from 'vitest';
import { storeReaders } from './reader';
import { openWritableLayout } from './support';
import { StoreError } from './types';

type SyncAccess = () => Promise<{ write: () => number; close: () => void }>;

/** An in-memory OPFS directory tree, with each file's createSyncAccessHandle chosen by the test. */
function fakeDirectory(syncAccess: SyncAccess | undefined, removed: string[]): FileSystemDirectoryHandle {
  const directory = {
    getDirectoryHandle: () => Promise.resolve(fakeDirectory(syncAccess, removed)),
    getFileHandle: () => Promise.resolve(syncAccess === undefined ? {} : { createSyncAccessHandle: syncAccess }),
    removeEntry: (name: string) => {
      removed.push(name);
      return Promise.resolve();
    },
  };
  return directory as unknown as FileSystemDirectoryHandle;
}

function withStorage(storage: unknown): void {
  vi.stubGlobal('navigator', { storage });
}

const writes: SyncAccess = () => Promise.resolve({ write: () => 1, close: () => undefined });

async function failure(work: Promise<unknown>): Promise<StoreError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof StoreError) return error;
    throw error;
  }
  throw new Error('expected a StoreError');
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('openWritableLayout', () => {
  it('opens the layout once a sync access handle has written, and removes its probe file', async () => {
    const removed: string[] = [];
    withStorage({ getDirectory: () => Promise.resolve(fakeDirectory(writes, removed)) });

    const layout = await openWritableLayout();

    expect(layout.blobs).toBeDefined();
    expect(removed).toEqual(['.sync-access-probe']);
  });

  it('says models cannot be stored where navigator.storage is missing', async () => {
    withStorage(undefined);

    const error = await failure(openWritableLayout());

    expect(error.code).toBe('storage-unavailable');
    expect(error.message).toMatch(/^Models cannot be stored in this browser: it has no Origin Private File System/);
  });

  it('says the browser refused OPFS where getDirectory rejects, as private browsing does', async () => {
    withStorage({ getDirectory: () => Promise.reject(new DOMException('transient', 'UnknownError')) });

    const error = await failure(openWritableLayout());

    expect(error.message).toMatch(/refused its Origin Private File System, as private browsing does \(UnknownError/);
  });

  it('says files cannot be written from a worker where sync access handles are refused', async () => {
    const refused: SyncAccess = () => Promise.reject(new DOMException('no', 'NotSupportedError'));
    withStorage({ getDirectory: () => Promise.resolve(fakeDirectory(refused, [])) });

    const error = await failure(openWritableLayout());

    expect(error.message).toMatch(/cannot write files from a worker \(OPFS sync access handles: NotSupportedError: no\)/);
  });

  it('says the same where sync access handles do not exist at all', async () => {
    withStorage({ getDirectory: () => Promise.resolve(fakeDirectory(undefined, [])) });

    const error = await failure(openWritableLayout());

    expect(error.message).toMatch(/createSyncAccessHandle is missing/);
  });
});

describe('storeReaders without storage', () => {
  it('says the model cannot be read offline because this browser cannot store it', async () => {
    withStorage(undefined);
    vi.stubGlobal('fetch', () => Promise.reject(new TypeError('Load failed')));
    const read = storeReaders('http://127.0.0.1:9/models/manifest.json')('tiny-sd-turbo');

    const error = await failure(read('unet/model.onnx'));

    expect(error.code).toBe('network-error');
    expect(error.message).toMatch(/^this browser cannot store models, and the gateway that has it cannot be reached \(/);
  });
});
