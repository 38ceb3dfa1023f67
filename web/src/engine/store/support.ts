/**
 * Whether this browser can keep model files, and the words for when it cannot. Browsers differ here: WebKitGTK
 * ships without navigator.storage, private browsing (and WebKit under WebDriver) refuses the Origin Private File
 * System, and some engines open it but cannot write from a worker. The store needs all three; the page's
 * capability report and the store's errors say the same thing in the same words.
 */
import { openLayout, type Layout } from './layout';
import type { WorkerFileHandle } from './opfsFile';
import { StoreError } from './types';

const PROBE = '.sync-access-probe';

function detail(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** What a user reads when models cannot be stored: why, and what the app does instead. */
export function storageUnavailableText(cause: string): string {
  return (
    `Models cannot be stored in this browser: ${cause}. ` +
    'Local drafts read the model from the gateway each time instead, so they need it reachable.'
  );
}

export const NO_OPFS_CAUSE = 'it has no Origin Private File System (navigator.storage.getDirectory is missing)';

export function refusedOpfsCause(error: unknown): string {
  return `it refused its Origin Private File System, as private browsing does (${detail(error)})`;
}

export function noSyncAccessCause(error: unknown): string {
  return `it cannot write files from a worker (OPFS sync access handles: ${detail(error)})`;
}

function unavailable(cause: string): StoreError {
  return new StoreError('storage-unavailable', storageUnavailableText(cause));
}

/** Writes through a sync access handle once, as a download will, so an engine without them fails up front. */
async function probeSyncAccess(root: FileSystemDirectoryHandle): Promise<void> {
  const handle = (await root.getFileHandle(PROBE, { create: true })) as Partial<WorkerFileHandle>;
  try {
    const create = handle.createSyncAccessHandle;
    if (create === undefined) throw new TypeError('createSyncAccessHandle is missing');
    const access = await create.call(handle);
    try {
      access.write(new Uint8Array([1]), { at: 0 });
    } finally {
      access.close();
    }
  } finally {
    await root.removeEntry(PROBE).catch(() => undefined);
  }
}

/** The store's layout, in a dedicated worker, once the browser has shown that it can write model files. */
export async function openWritableLayout(): Promise<Layout> {
  const storage = navigator.storage as Partial<StorageManager> | undefined;
  if (storage?.getDirectory === undefined) throw unavailable(NO_OPFS_CAUSE);
  let layout: Layout;
  try {
    layout = await openLayout();
  } catch (error) {
    throw unavailable(refusedOpfsCause(error));
  }
  try {
    await probeSyncAccess(layout.root);
  } catch (error) {
    // Locked means another worker writes: sync handles work, the store is just busy right now.
    if (error instanceof DOMException && error.name === 'NoModificationAllowedError') return layout;
    throw unavailable(noSyncAccessCause(error));
  }
  return layout;
}
