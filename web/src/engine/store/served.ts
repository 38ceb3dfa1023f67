/**
 * The gateway's served manifest (`/models/manifest.json`), checked into the shape the store needs: each
 * variant's files with size, sha256 and mirror URL. Anything malformed is a typed `bad-manifest` error.
 */
import { StoreError } from './types';

/** `sha256[i]` is the hash of bytes [i * size, (i + 1) * size) of the file (the last chunk is shorter). */
export interface FileChunks {
  readonly size: number;
  readonly sha256: readonly string[];
}

export interface ServedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Absolute URL of the content-addressed file. */
  readonly url: string;
  readonly required: boolean;
  /** Per-chunk hashes from the gateway, derived from the verified file; null: check the file as a whole. */
  readonly chunks: FileChunks | null;
}

/**
 * Chunks are held in memory while they are checked (a few at once): a list with bigger chunks than this is
 * ignored and the file is checked as a whole instead.
 */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;

export interface ServedVariant {
  readonly id: string;
  readonly description: string;
  /** Null when the gateway lacks some file (not mirrored): listed, but not downloadable. */
  readonly files: readonly ServedFile[] | null;
}

const SHA256 = /^[0-9a-f]{64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseFile(raw: unknown, base: string, variant: string): ServedFile | null {
  if (!isRecord(raw) || typeof raw.path !== 'string') {
    throw new StoreError('bad-manifest', `variant ${variant} lists a file without a path`);
  }
  const { path, size, sha256, url } = raw;
  if (url === null || url === undefined) return null;
  if (typeof url !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new StoreError('bad-manifest', `variant ${variant} file ${path} has no valid url/size`, path);
  }
  if (typeof sha256 !== 'string' || !SHA256.test(sha256)) {
    throw new StoreError('bad-manifest', `variant ${variant} file ${path} has no valid sha256`, path);
  }
  const chunks = parseChunks(raw.chunks, size, variant, path);
  return { path, size, sha256, url: new URL(url, base).href, required: raw.required !== false, chunks };
}

function parseChunks(raw: unknown, fileSize: number, variant: string, path: string): FileChunks | null {
  if (raw === null || raw === undefined) return null;
  const bad = (why: string): StoreError =>
    new StoreError('bad-manifest', `variant ${variant} file ${path} has malformed chunk hashes: ${why}`, path);
  if (!isRecord(raw)) throw bad('not an object');
  const { size, sha256 } = raw;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) throw bad('no valid chunk size');
  if (!Array.isArray(sha256) || !sha256.every((h): h is string => typeof h === 'string' && SHA256.test(h))) {
    throw bad('a hash is not 64 hex digits');
  }
  // Every byte must be covered by exactly one hash, or some bytes would go unchecked.
  if (sha256.length !== Math.ceil(fileSize / size) || fileSize === 0) {
    throw bad(`${String(sha256.length)} hashes of ${String(size)} bytes for a file of ${String(fileSize)} bytes`);
  }
  return size > MAX_CHUNK_BYTES ? null : { size, sha256 };
}

export function parseServedManifest(body: unknown, manifestUrl: string): ServedVariant[] {
  if (!isRecord(body) || !Array.isArray(body.variants)) {
    throw new StoreError('bad-manifest', `${manifestUrl} has no "variants" list`);
  }
  return body.variants.map((raw: unknown): ServedVariant => {
    if (!isRecord(raw) || typeof raw.id !== 'string' || !Array.isArray(raw.files)) {
      throw new StoreError('bad-manifest', `${manifestUrl} has a variant without id or files`);
    }
    const id = raw.id;
    const parsed = raw.files.map((f: unknown) => parseFile(f, manifestUrl, id));
    const complete = parsed.length > 0 && parsed.every((f) => f !== null);
    return {
      id,
      description: typeof raw.description === 'string' ? raw.description : '',
      files: complete ? parsed : null,
    };
  });
}

function absolute(url: string): string {
  const here = (globalThis as { location?: { href: string } }).location?.href ?? 'http://localhost/';
  return new URL(url, here).href;
}

export async function fetchServedManifest(manifestUrl: string): Promise<ServedVariant[]> {
  const url = absolute(manifestUrl);
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-cache' });
  } catch (error) {
    throw StoreError.wrap(error, 'network-error', `cannot fetch ${url}`);
  }
  if (!response.ok) throw new StoreError('http-error', `HTTP ${String(response.status)} for ${url}`);
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    throw StoreError.wrap(error, 'bad-manifest', `${url} is not JSON`);
  }
  return parseServedManifest(body, url);
}
