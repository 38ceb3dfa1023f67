/**
 * A file whose manifest entry lists chunk hashes: one Range request per chunk, `parallelChunks` in flight,
 * each fetched and checked with WebCrypto in a chunk worker (chunkFetch.ts) before any byte of it is written at
 * its offset in the .part file by this (the store) worker. The journal lists the verified chunks, so a resume (after a cut, a pause, a reload)
 * fetches only the missing ones, and a chunk that fails its hash is the only one fetched again.
 *
 * Why this shape (measured, docs/models.md "Benchmark"): receiving a body costs the receiving thread about
 * three times the CPU of hashing it, so one thread doing both (and writing) is the bottleneck; chunk workers
 * spread that over cores, WebCrypto hashes natively, and writing into a file sized up front is several times faster than
 * growing it (each growth asks the browser process for quota).
 *
 * The chunk list came from the gateway, which derived it from a file whose whole sha256 it verified: all
 * chunks matching implies the whole file matches, so the file goes to blobs/ without being read again.
 *
 * Progress counts bytes as they arrive, not only whole verified chunks: a chunk is megabytes, which on a slow
 * link is many seconds. A request that is paused or cut mid-chunk gives back what it received; those bytes are
 * written at their offset and journaled as the chunk's prefix (unverified), and the chunk's next request asks
 * only for the rest and hashes prefix and rest together. If that hash fails, the prefix may be what was wrong:
 * the chunk is fetched once more whole before it counts as a mismatch.
 */
import {
  base64Decode,
  base64Encode,
  isChunkJournal,
  journalName,
  readJson,
  removeIfPresent,
  writeJson,
  type ChunkJournal,
} from './layout';
import type { ChunkResult } from './chunkFetch';
import { chunkFetchers, type ChunkFetcher } from './chunkFetchers';
import { sleep, writeAt, type FileSystemSyncAccessHandle } from './opfsFile';
import { backoffMs } from './rate';
import type { FileChunks, ServedFile } from './served';
import type { DownloadContext } from './streamedDownload';
import { StoreError } from './types';

/** 'complete': every chunk verified and written; 'no-range': the server ignores Range, use the streamed path. */
export type ChunkedOutcome = 'complete' | 'no-range';

/** How often verified chunks are made resumable (flush + journal) while all goes well. */
const COMMIT_INTERVAL_MS = 1000;

const isSet = (bits: Uint8Array, i: number): boolean => ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;

const chunkLength = (index: number, chunkSize: number, fileSize: number): number =>
  Math.max(0, Math.min(chunkSize, fileSize - index * chunkSize));

/** Bytes of `file` the journal says are on disk: chunks verified, plus the prefixes of chunks begun. */
export function heldBytes(journal: ChunkJournal, file: ServedFile): number {
  const bits = base64Decode(journal.verified);
  const count = Math.ceil(file.size / journal.chunkSize);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const length = chunkLength(i, journal.chunkSize, file.size);
    if (isSet(bits, i)) bytes += length;
    else bytes += Math.min(length, journal.partial?.[String(i)] ?? 0);
  }
  return bytes;
}

export function journalFits(journal: unknown, file: ServedFile, chunks: FileChunks): journal is ChunkJournal {
  return (
    isChunkJournal(journal) &&
    journal.sha256 === file.sha256 &&
    journal.size === file.size &&
    journal.chunkSize === chunks.size &&
    base64Decode(journal.verified).length === Math.ceil(chunks.sha256.length / 8)
  );
}

class ChunkedTransfer {
  private readonly file: ServedFile;
  private readonly chunks: FileChunks;
  private readonly ctx: DownloadContext;
  private readonly handle: FileSystemSyncAccessHandle;
  private readonly verified: Uint8Array;
  private readonly queue: number[] = [];
  /** Aborts the other requests when one lane hits an error that ends the file's download. */
  private readonly stopAll = new AbortController();
  private readonly signal: AbortSignal;
  /** Bytes in verified chunks. */
  private done = 0;
  /** Per chunk begun but not verified: bytes of it written to the .part file (journaled at the next commit). */
  private readonly prefixes = new Map<number, number>();
  /** Per chunk in flight: bytes of it received so far (prefix included). */
  private readonly inFlight = new Map<number, number>();
  private dirty = false;
  private committedAt = performance.now();
  private committing: Promise<void> = Promise.resolve();
  private backingOff = 0;
  private failure: Error | null = null;
  private noRange = false;

  constructor(file: ServedFile, chunks: FileChunks, ctx: DownloadContext, handle: FileSystemSyncAccessHandle) {
    this.file = file;
    this.chunks = chunks;
    this.ctx = ctx;
    this.handle = handle;
    this.verified = new Uint8Array(Math.ceil(chunks.sha256.length / 8));
    this.signal = AbortSignal.any([ctx.signal, this.stopAll.signal]);
  }

  /** Picks up the journal's verified chunks, or starts over; then sizes the .part file to the whole file. */
  async open(): Promise<void> {
    const journal = await readJson(this.ctx.layout.partial, journalName(this.file.sha256));
    if (journalFits(journal, this.file, this.chunks) && this.handle.getSize() === this.file.size) {
      this.verified.set(base64Decode(journal.verified));
      for (let i = 0; i < this.chunks.sha256.length; i++) {
        const length = chunkLength(i, this.chunks.size, this.file.size);
        if (isSet(this.verified, i)) this.done += length;
        else {
          const prefix = Math.min(length, journal.partial?.[String(i)] ?? 0);
          if (prefix > 0) this.prefixes.set(i, prefix);
        }
      }
    } else {
      // Whatever is there was never verified chunk by chunk; a journal of the streamed path would lie now.
      await removeIfPresent(this.ctx.layout.partial, journalName(this.file.sha256));
      this.handle.truncate(0);
    }
    try {
      this.handle.truncate(this.file.size);
    } catch (error) {
      throw StoreError.wrap(error, 'quota-exceeded', `${this.file.path}: cannot reserve ${String(this.file.size)} bytes`, this.file.path);
    }
    for (let i = 0; i < this.chunks.sha256.length; i++) if (!isSet(this.verified, i)) this.queue.push(i);
  }

  async run(): Promise<ChunkedOutcome> {
    this.progress();
    const lanes = Math.max(1, Math.min(this.ctx.settings.parallelChunks, this.queue.length));
    const fail = (error: unknown): void => {
      this.fail(error);
    };
    await Promise.all(chunkFetchers(lanes).map((fetcher) => this.lane(fetcher).catch(fail)));
    // Verified chunks stay resumable whatever happened; a failed journal write leaves the previous one.
    await this.commit().catch(() => undefined);
    this.ctx.signal.throwIfAborted();
    if (this.failure !== null) throw this.failure;
    return this.noRange ? 'no-range' : 'complete';
  }

  private fail(error: unknown): void {
    this.failure ??= StoreError.wrap(error, 'network-error', `${this.file.path}: download failed`, this.file.path);
    // A bad chunk lets the other requests finish theirs (verified work is kept); anything else stops them.
    const badChunk = error instanceof StoreError && error.code === 'integrity-mismatch';
    if (!badChunk) this.stopAll.abort(error);
  }

  private get stopping(): boolean {
    return this.failure !== null || this.noRange || this.signal.aborted;
  }

  private async lane(fetcher: ChunkFetcher): Promise<void> {
    while (!this.stopping) {
      const index = this.queue.shift();
      if (index === undefined) return;
      await this.fetchChunk(fetcher, index);
    }
  }

  /** Bytes of the file in hand: verified chunks, written prefixes, and what requests in flight received. */
  private held(): number {
    let bytes = this.done;
    const begun = new Set([...this.prefixes.keys(), ...this.inFlight.keys()]);
    for (const i of begun) bytes += Math.max(this.prefixes.get(i) ?? 0, this.inFlight.get(i) ?? 0);
    return bytes;
  }

  private progress(): void {
    this.ctx.onProgress(this.held(), this.backingOff > 0 ? 'retrying' : 'downloading');
  }

  /** Writes what an interrupted request received after the chunk's known prefix, as its new prefix. */
  private keepPartial(index: number, start: number, partial: ArrayBuffer | undefined): boolean {
    const before = this.prefixes.get(index) ?? 0;
    if (partial === undefined || partial.byteLength <= before) return false;
    writeAt(this.handle, new Uint8Array(partial, before), start + before);
    this.prefixes.set(index, partial.byteLength);
    this.dirty = true;
    return true;
  }

  /** The chunk's prefix as written, to send with its request. */
  private readPrefix(index: number, start: number): ArrayBuffer | undefined {
    const length = this.prefixes.get(index) ?? 0;
    if (length === 0) return undefined;
    const bytes = new Uint8Array(length);
    let read = 0;
    while (read < length) {
      const n = this.handle.read(bytes.subarray(read), { at: start + read });
      if (n <= 0) break;
      read += n;
    }
    if (read < length) {
      this.prefixes.delete(index); // shorter on disk than journaled: start the chunk over
      return undefined;
    }
    return bytes.buffer;
  }

  private async fetchChunk(fetcher: ChunkFetcher, index: number): Promise<void> {
    const { settings } = this.ctx;
    const start = index * this.chunks.size;
    const end = Math.min(start + this.chunks.size, this.file.size) - 1;
    const expected = this.chunks.sha256[index] ?? '';
    const request = { url: this.file.url, start, end, fileSize: this.file.size, sha256: expected };
    const onProgress = (received: number): void => {
      this.inFlight.set(index, received);
      this.progress();
    };
    let doubtedPrefix = false;
    for (let attempt = 1; ; attempt++) {
      const prefix = this.readPrefix(index, start);
      let result: ChunkResult;
      try {
        result = await fetcher.fetch({ ...request, prefix }, this.signal, onProgress);
      } finally {
        this.inFlight.delete(index);
      }
      if (result.kind === 'no-range') {
        this.noRange = true;
        return;
      }
      if (result.kind === 'mismatch' && result.hadPrefix && !doubtedPrefix) {
        // The kept prefix may be what is wrong: fetch the whole chunk once more before calling it a mismatch.
        doubtedPrefix = true;
        this.prefixes.delete(index);
        this.dirty = true;
        attempt--;
        continue;
      }
      if (result.kind === 'aborted') this.keepPartial(index, start, result.partial);
      if (result.kind !== 'retry') {
        await this.accept(index, request, result);
        return;
      }
      // A retry that brought bytes is progress, as on the whole-file path: count lack of progress only.
      if (this.keepPartial(index, start, result.partial)) attempt = 1;
      if (attempt > settings.maxRetries) {
        throw new StoreError(
          'network-error',
          `${this.file.path}: gave up on bytes ${String(start)}-${String(end)} after ${String(settings.maxRetries)} ` +
            'retries; download again to resume from there',
          this.file.path,
        );
      }
      this.backingOff++;
      try {
        await this.commit(); // a reload during the backoff resumes from here (committed before it is shown)
        this.progress();
        await sleep(backoffMs(attempt, settings.retryDelayMs), this.signal);
      } finally {
        this.backingOff--;
      }
    }
  }

  /** Writes a verified chunk; anything else ends this file's download (a bad chunk was never written). */
  private async accept(
    index: number,
    request: { readonly start: number; readonly end: number; readonly sha256: string },
    result: Exclude<ChunkResult, { kind: 'retry' | 'no-range' }>,
  ): Promise<void> {
    const { start, end } = request;
    const bytes = `bytes ${String(start)}-${String(end)}`;
    switch (result.kind) {
      case 'aborted':
        this.signal.throwIfAborted();
        throw new StoreError('network-error', `${this.file.path}: ${bytes} were aborted`, this.file.path);
      case 'http-error':
        throw new StoreError('http-error', `HTTP ${String(result.status)} for ${bytes} of ${this.file.url}`, this.file.path);
      case 'mismatch':
        throw new StoreError(
          'integrity-mismatch',
          `${this.file.path}: chunk ${String(index)} (${bytes}) sha256 mismatch: the manifest says ` +
            `${request.sha256}, the downloaded bytes hash to ${result.actual}`,
          this.file.path,
        );
      case 'verified':
        break;
    }
    const prefix = this.prefixes.get(index) ?? 0;
    writeAt(this.handle, new Uint8Array(result.bytes, prefix), start + prefix); // the prefix is on disk already
    this.prefixes.delete(index);
    this.verified[index >> 3] = (this.verified[index >> 3] ?? 0) | (1 << (index & 7));
    this.done += end - start + 1;
    this.dirty = true;
    this.progress();
    if (performance.now() - this.committedAt >= COMMIT_INTERVAL_MS) await this.commit();
  }

  /** Makes the verified chunks resumable: data flushed, then the journal swapped in; one at a time. */
  private commit(): Promise<void> {
    this.committing = this.committing.catch(() => undefined).then(() => this.writeJournal());
    return this.committing;
  }

  private async writeJournal(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const journal: ChunkJournal = {
      version: 2,
      sha256: this.file.sha256,
      size: this.file.size,
      chunkSize: this.chunks.size,
      verified: base64Encode(this.verified),
      partial: Object.fromEntries([...this.prefixes].map(([i, n]) => [String(i), n])),
    };
    this.handle.flush();
    this.committedAt = performance.now();
    try {
      await writeJson(this.ctx.layout.partial, journalName(this.file.sha256), journal);
    } catch (error) {
      this.dirty = true;
      throw error;
    }
  }
}

/** Fills the open .part file with every chunk of `file`, each verified against `chunks`. */
export async function downloadChunked(
  file: ServedFile,
  chunks: FileChunks,
  ctx: DownloadContext,
  handle: FileSystemSyncAccessHandle,
): Promise<ChunkedOutcome> {
  const transfer = new ChunkedTransfer(file, chunks, ctx, handle);
  await transfer.open();
  return transfer.run();
}
