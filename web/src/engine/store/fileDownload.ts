/**
 * Brings one file into blobs/<sha256>, resumably, through a .part file written with a sync access handle
 * (dedicated workers only). Files the manifest gives chunk hashes for are fetched chunk by chunk, each chunk
 * verified before it is written (chunkedDownload.ts); others, or when `chunkHashes` is off, as one stream
 * checked against the whole-file sha256 (streamedDownload.ts). Only a verified file is moved to blobs/.
 */
import { downloadChunked, journalFits, heldBytes } from './chunkedDownload';
import { fileOrNull, isJournal, journalName, partName, readJson, removeIfPresent, type Layout } from './layout';
import { openExclusive, type WorkerFileHandle } from './opfsFile';
import type { ServedFile } from './served';
import { downloadStreamed, type DownloadContext } from './streamedDownload';
import { StoreError } from './types';

export type FileDownloadContext = DownloadContext;

export async function hasBlob(layout: Layout, file: ServedFile): Promise<boolean> {
  const blob = await fileOrNull(layout.blobs, file.sha256);
  return blob !== null && blob.size === file.size;
}

/** Bytes of `file` already here: all of it when its blob exists, else what its journal says is committed. */
export async function bytesHeld(layout: Layout, file: ServedFile): Promise<number> {
  if (await hasBlob(layout, file)) return file.size;
  const journal = await readJson(layout.partial, journalName(file.sha256));
  if (isJournal(journal) && journal.sha256 === file.sha256 && journal.size === file.size) {
    return Math.min(journal.offset, file.size);
  }
  if (file.chunks !== null && journalFits(journal, file, file.chunks)) return heldBytes(journal, file);
  return 0;
}

export async function discardPartial(layout: Layout, sha256: string): Promise<void> {
  await removeIfPresent(layout.partial, journalName(sha256));
  await removeIfPresent(layout.partial, partName(sha256));
}

/**
 * Brings `file` into blobs/ (no-op when it is there already). Throws StoreError 'integrity-mismatch' when a
 * chunk or the complete file fails its hash (a failed chunk is not kept; a failed whole file is deleted), and
 * rethrows the abort reason on pause. A later call resumes from what is committed.
 */
export async function downloadFile(file: ServedFile, ctx: FileDownloadContext): Promise<void> {
  const { layout, settings, signal } = ctx;
  if (await hasBlob(layout, file)) {
    ctx.onProgress(file.size, 'ready');
    return;
  }
  const partHandle = (await layout.partial.getFileHandle(partName(file.sha256), { create: true })) as WorkerFileHandle;
  const handle = await openExclusive(partHandle, file, signal);
  let actual: string | null = null;
  try {
    const chunks = settings.chunkHashes ? file.chunks : null;
    const outcome = chunks === null ? 'no-range' : await downloadChunked(file, chunks, ctx, handle);
    // Without chunk hashes, or from a server that ignores Range, the file is checked as a whole.
    if (outcome === 'no-range') actual = await downloadStreamed(file, ctx, handle);
    ctx.onProgress(file.size, 'verifying');
    handle.flush();
  } finally {
    handle.close();
  }
  if (actual !== null && actual !== file.sha256) {
    await discardPartial(layout, file.sha256);
    throw new StoreError(
      'integrity-mismatch',
      `${file.path}: sha256 mismatch: the manifest says ${file.sha256}, the downloaded bytes hash to ${actual}`,
      file.path,
    );
  }
  await partHandle.move(layout.blobs, file.sha256);
  await removeIfPresent(layout.partial, journalName(file.sha256));
  ctx.onProgress(file.size, 'ready');
}
