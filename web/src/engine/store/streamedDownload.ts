/**
 * A file checked as one stream (its manifest entry has no chunk hashes, e.g. a source without them): Range
 * requests of `chunkBytes`, each written through the sync access handle and folded into a streaming sha256
 * (hash-wasm) whose state is saved with every commit. After a network error, a pause, a reload or a closed tab
 * it resumes from the last commit without re-reading the file. A server that ignores Range (200) or answers 416
 * restarts the file. The caller compares the returned digest with the manifest's.
 */
import { createSHA256, type IHasher } from 'hash-wasm';
import {
  base64Decode,
  base64Encode,
  isJournal,
  journalName,
  readJson,
  removeIfPresent,
  writeJson,
  type Journal,
  type Layout,
} from './layout';
import { RETRYABLE_STATUS, sleep, writeAt, type FileSystemSyncAccessHandle } from './opfsFile';
import { backoffMs, parseContentRange } from './rate';
import type { ServedFile } from './served';
import { StoreError, type FileStatus, type StoreSettings } from './types';

export interface DownloadContext {
  readonly layout: Layout;
  readonly settings: StoreSettings;
  readonly signal: AbortSignal;
  /** Bytes of this file that are on disk (committed or in flight), and what is happening to it. */
  readonly onProgress: (done: number, status: FileStatus) => void;
}

/** What one request did: how far the file got, and whether to go on, retry after a pause or restart. */
type Outcome = 'continue' | 'retry' | 'restart';

class FileWriter {
  offset = 0;
  etag: string | null = null;
  private committed = 0;
  private readonly file: ServedFile;
  private readonly ctx: DownloadContext;
  private readonly handle: FileSystemSyncAccessHandle;
  private readonly hasher: IHasher;

  constructor(file: ServedFile, ctx: DownloadContext, handle: FileSystemSyncAccessHandle, hasher: IHasher) {
    this.file = file;
    this.ctx = ctx;
    this.handle = handle;
    this.hasher = hasher;
  }

  resumeFrom(journal: Journal): void {
    this.hasher.load(base64Decode(journal.hashState));
    this.handle.truncate(journal.offset); // bytes after the commit were never hashed: drop them
    this.offset = this.committed = journal.offset;
    this.etag = journal.etag;
  }

  restart(): void {
    this.hasher.init();
    this.handle.truncate(0);
    this.offset = this.committed = 0;
    this.etag = null;
  }

  append(bytes: Uint8Array): void {
    if (this.offset + bytes.byteLength > this.file.size) {
      throw new StoreError(
        'integrity-mismatch',
        `${this.file.path}: the server sent more than the manifest's ${String(this.file.size)} bytes`,
        this.file.path,
      );
    }
    writeAt(this.handle, bytes, this.offset);
    this.hasher.update(bytes);
    this.offset += bytes.byteLength;
  }

  /** Makes everything written so far resumable: data flushed first, then the journal swapped in. */
  async commit(): Promise<void> {
    if (this.offset === this.committed) return;
    this.handle.flush();
    const journal: Journal = {
      version: 1,
      sha256: this.file.sha256,
      size: this.file.size,
      offset: this.offset,
      hashState: base64Encode(this.hasher.save()),
      etag: this.etag,
    };
    await writeJson(this.ctx.layout.partial, journalName(this.file.sha256), journal);
    this.committed = this.offset;
  }

  digest(): string {
    return this.hasher.digest('hex');
  }

  /** One request for the bytes from `offset` on (a chunk), streamed to disk and the hasher. */
  async fetchChunk(): Promise<Outcome> {
    const { settings, signal } = this.ctx;
    const end = Math.min(this.offset + settings.chunkBytes, this.file.size) - 1;
    const headers: Record<string, string> = { Range: `bytes=${String(this.offset)}-${String(end)}` };
    if (this.etag !== null && this.offset > 0) headers['If-Range'] = this.etag;
    let response: Response;
    try {
      // no-store: the HTTP cache would keep a second copy of a multi-GB file.
      response = await fetch(this.file.url, { headers, signal, cache: 'no-store' });
    } catch (error) {
      if (signal.aborted) throw error;
      return 'retry';
    }
    if (response.status === 416) {
      await response.body?.cancel();
      return 'restart';
    }
    if (RETRYABLE_STATUS.has(response.status)) {
      await response.body?.cancel();
      return 'retry';
    }
    if (response.status !== 206 && response.status !== 200) {
      await response.body?.cancel();
      throw new StoreError('http-error', `HTTP ${String(response.status)} for ${this.file.url}`, this.file.path);
    }
    const etag = response.headers.get('ETag');
    const range = parseContentRange(response.headers.get('Content-Range'));
    const whole = response.status === 200;
    if (whole) {
      // Range ignored (or If-Range failed): the body is the whole file, so start the file over with it.
      this.restart();
    } else if (range?.start !== this.offset || (range.total !== null && range.total !== this.file.size)) {
      await response.body?.cancel();
      return 'restart';
    }
    if (etag !== null && !etag.startsWith('W/')) this.etag = etag;
    return this.stream(response, whole ? this.file.size - 1 : end);
  }

  private async stream(response: Response, end: number): Promise<Outcome> {
    const { settings, signal } = this.ctx;
    if (response.body === null) return 'retry';
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.append(value);
        // A whole-file answer is committed every chunk too, so a cut still resumes near where it was.
        if (this.offset - this.committed >= settings.chunkBytes) await this.commit();
        this.ctx.onProgress(this.offset, 'downloading');
      }
    } catch (error) {
      if (error instanceof StoreError || signal.aborted) throw error;
      // The connection broke mid-body: what arrived is intact (TCP), so keep it and retry from there.
      await this.commit();
      return 'retry';
    }
    if (this.offset !== end + 1) {
      await this.commit();
      return 'retry'; // a short body without an error: ask again for the rest
    }
    await this.commit();
    return 'continue';
  }
}

/**
 * Fills the open .part file with all of `file` and returns the sha256 of what arrived. On an error or a pause
 * the last consistent state is committed (a later call resumes from it) and the error rethrown.
 */
export async function downloadStreamed(
  file: ServedFile,
  ctx: DownloadContext,
  handle: FileSystemSyncAccessHandle,
): Promise<string> {
  const { layout, settings, signal } = ctx;
  const writer = new FileWriter(file, ctx, handle, await createSHA256());
  try {
    const journal = await readJson(layout.partial, journalName(file.sha256));
    if (
      isJournal(journal) &&
      journal.sha256 === file.sha256 &&
      journal.size === file.size &&
      journal.offset <= file.size &&
      handle.getSize() >= journal.offset
    ) {
      writer.resumeFrom(journal);
    } else {
      // A chunk journal (or a stale one) would describe bytes this path is about to overwrite.
      if (journal !== null) await removeIfPresent(layout.partial, journalName(file.sha256));
      writer.restart();
    }
    ctx.onProgress(writer.offset, 'downloading');
    let attempt = 0;
    let restarts = 0;
    while (writer.offset < file.size) {
      signal.throwIfAborted();
      const before = writer.offset;
      const outcome = await writer.fetchChunk();
      if (outcome === 'restart') {
        restarts++;
        if (restarts > 3) {
          throw new StoreError('http-error', `${file.url} keeps refusing the byte ranges asked for`, file.path);
        }
        writer.restart();
        await writer.commit();
        if (writer.offset === 0) await removeIfPresent(layout.partial, journalName(file.sha256));
        continue;
      }
      if (outcome === 'retry') {
        attempt = writer.offset > before ? 1 : attempt + 1; // progress resets the count
        if (attempt > settings.maxRetries) {
          throw new StoreError(
            'network-error',
            `${file.path}: gave up after ${String(settings.maxRetries)} retries at byte ${String(writer.offset)}; ` +
              'download again to resume from there',
            file.path,
          );
        }
        ctx.onProgress(writer.offset, 'retrying');
        await sleep(backoffMs(attempt, settings.retryDelayMs), signal);
        continue;
      }
      attempt = 0;
    }
    return writer.digest();
  } catch (error) {
    // Keep what is committed so a later download resumes; a pause lands here too.
    try {
      await writer.commit();
    } catch {
      // the journal stays at the previous commit, which is still consistent
    }
    throw error;
  }
}
