/**
 * Where the store keeps things in the Origin Private File System:
 *
 *   turbodraft-models/blobs/<sha256>           verified files, content-addressed (shared between variants)
 *   turbodraft-models/partial/<sha256>.part    a file being downloaded
 *   turbodraft-models/partial/<sha256>.json    its journal: the verified chunks, or committed bytes and the
 *                                              saved sha256 state (files without chunk hashes)
 *   turbodraft-models/variants/<id>.json       a complete variant: which blob each path is
 *
 * Only verified files ever reach blobs/, and a variant record is written only once all its blobs exist, so a
 * reader that goes through records can never hand a partial or corrupt file to onnxruntime.
 */

export const ROOT = 'turbodraft-models';

export interface StoredFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface VariantRecord {
  readonly version: 1;
  readonly id: string;
  readonly description: string;
  readonly files: readonly StoredFile[];
  readonly savedAt: string;
  /**
   * The variant's definition as the gateway served it (backends, sizes, ...), so the engine can run a variant
   * its bundle does not know (pulled or custom) with the gateway gone. Absent in records written before.
   */
  readonly definition?: Readonly<Record<string, unknown>>;
  /** The manifest's families at download time (the constants `definition.family` names). */
  readonly families?: Readonly<Record<string, unknown>>;
  readonly licenses?: readonly { readonly name: string; readonly url: string; readonly covers: string }[];
}

/** Journal of a file checked as one stream (its manifest entry has no chunk hashes). */
export interface Journal {
  readonly version: 1;
  readonly sha256: string;
  readonly size: number;
  /** Bytes of the .part file that are written, flushed and folded into `hashState`. */
  readonly offset: number;
  /** hash-wasm's sha256 `save()` after `offset` bytes, base64. */
  readonly hashState: string;
  /** The server's strong ETag, sent back as If-Range so a changed file restarts instead of mixing. */
  readonly etag: string | null;
}

/** Journal of a file checked chunk by chunk against the manifest's chunk hashes. */
export interface ChunkJournal {
  readonly version: 2;
  readonly sha256: string;
  readonly size: number;
  readonly chunkSize: number;
  /**
   * Chunks written at their offset, flushed and verified: a bitmap (chunk i is bit i % 8 of byte i >> 3),
   * base64. Chunks complete out of order (several requests are in flight), hence not an offset.
   */
  readonly verified: string;
  /**
   * Chunks whose first bytes are written but not yet verified (a request was paused or cut mid-chunk): chunk
   * index -> bytes held from its start. A resume asks only for the rest; the hash covers the whole chunk.
   */
  readonly partial?: Readonly<Record<string, number>>;
}

export interface Layout {
  readonly root: FileSystemDirectoryHandle;
  readonly blobs: FileSystemDirectoryHandle;
  readonly partial: FileSystemDirectoryHandle;
  readonly variants: FileSystemDirectoryHandle;
}

export async function openLayout(): Promise<Layout> {
  const origin = await navigator.storage.getDirectory();
  const root = await origin.getDirectoryHandle(ROOT, { create: true });
  const [blobs, partial, variants] = await Promise.all(
    ['blobs', 'partial', 'variants'].map((name) => root.getDirectoryHandle(name, { create: true })),
  );
  if (blobs === undefined || partial === undefined || variants === undefined) throw new Error('unreachable');
  return { root, blobs, partial, variants };
}

function isNotFound(error: unknown): boolean {
  return error instanceof DOMException && (error.name === 'NotFoundError' || error.name === 'TypeMismatchError');
}

export async function fileOrNull(dir: FileSystemDirectoryHandle, name: string): Promise<File | null> {
  try {
    return await (await dir.getFileHandle(name)).getFile();
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/** Parsed JSON, or null when missing or unreadable (a torn write counts as missing). */
export async function readJson(dir: FileSystemDirectoryHandle, name: string): Promise<unknown> {
  const file = await fileOrNull(dir, name);
  if (file === null) return null;
  try {
    return JSON.parse(await file.text()) as unknown;
  } catch {
    return null;
  }
}

/** Replaces the file as a whole: createWritable writes a swap file and swaps it in on close. */
export async function writeJson(dir: FileSystemDirectoryHandle, name: string, value: unknown): Promise<void> {
  const handle = await dir.getFileHandle(name, { create: true });
  const writable = await handle.createWritable();
  await writable.write(JSON.stringify(value));
  await writable.close();
}

export async function removeIfPresent(dir: FileSystemDirectoryHandle, name: string): Promise<void> {
  try {
    await dir.removeEntry(name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export async function names(dir: FileSystemDirectoryHandle): Promise<string[]> {
  const out: string[] = [];
  // keys() is in Chromium and the spec but missing from TypeScript's DOM lib.
  for await (const name of (dir as unknown as { keys: () => AsyncIterable<string> }).keys()) out.push(name);
  return out.sort();
}

export function isVariantRecord(value: unknown): value is VariantRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Partial<VariantRecord>;
  return record.version === 1 && typeof record.id === 'string' && Array.isArray(record.files);
}

export function isJournal(value: unknown): value is Journal {
  if (typeof value !== 'object' || value === null) return false;
  const j = value as Partial<Journal>;
  return (
    j.version === 1 &&
    typeof j.sha256 === 'string' &&
    typeof j.size === 'number' &&
    typeof j.offset === 'number' &&
    typeof j.hashState === 'string'
  );
}

export function isChunkJournal(value: unknown): value is ChunkJournal {
  if (typeof value !== 'object' || value === null) return false;
  const j = value as Partial<ChunkJournal>;
  return (
    j.version === 2 &&
    typeof j.sha256 === 'string' &&
    typeof j.size === 'number' &&
    typeof j.chunkSize === 'number' &&
    typeof j.verified === 'string'
  );
}

export const recordName = (variant: string): string => `${encodeURIComponent(variant)}.json`;
export const partName = (sha256: string): string => `${sha256}.part`;
export const journalName = (sha256: string): string => `${sha256}.json`;

export async function readRecord(layout: Layout, variant: string): Promise<VariantRecord | null> {
  const value = await readJson(layout.variants, recordName(variant));
  return isVariantRecord(value) ? value : null;
}

export async function readRecords(layout: Layout): Promise<VariantRecord[]> {
  const records: VariantRecord[] = [];
  for (const name of await names(layout.variants)) {
    const value = await readJson(layout.variants, name);
    if (isVariantRecord(value)) records.push(value);
  }
  return records;
}

export function base64Encode(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function base64Decode(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
