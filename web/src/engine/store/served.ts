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

/** One licence of a variant, as the manifest lists it. */
export interface ServedLicense {
  readonly name: string;
  readonly url: string;
  readonly covers: string;
}

/** Where the gateway has the variant: pulled into its mirror, a repository fixture, not (yet), or broken. */
export type MirrorState = 'mirrored' | 'fixture' | 'absent' | 'damaged';

export interface ServedVariant {
  readonly id: string;
  readonly description: string;
  /**
   * The files to download: every file the gateway has. Optional files it lacks are left out (the variant
   * works without them); null when it lacks a required one: listed, but not downloadable.
   */
  readonly files: readonly ServedFile[] | null;
  /** Required files the gateway lacks (empty when `files` is not null). */
  readonly missing: readonly string[];
  /** Bytes of all the variant's files: exact where the gateway has them, else the manifest's estimate; null if unknown. */
  readonly sizeEstimate: number | null;
  readonly licenses: readonly ServedLicense[];
  readonly mirrorState: MirrorState;
  /** The variant's definition as served (backends, sizes, steps...), for the engine; see manifest.ts. */
  readonly definition: Readonly<Record<string, unknown>>;
}

const SHA256 = /^[0-9a-f]{64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface ParsedFile {
  readonly path: string;
  readonly required: boolean;
  /** Null where the gateway has no copy of the file. */
  readonly served: ServedFile | null;
  readonly size: number | null;
}

function optionalSize(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function parseEntry(raw: unknown, base: string, variant: string): ParsedFile {
  if (!isRecord(raw) || typeof raw.path !== 'string') {
    throw new StoreError('bad-manifest', `variant ${variant} lists a file without a path`);
  }
  const served = parseFile(raw, base, variant);
  const size = served?.size ?? optionalSize(raw.size) ?? optionalSize(raw.size_estimate);
  return { path: raw.path, required: raw.required !== false, served, size };
}

function parseFile(raw: Record<string, unknown>, base: string, variant: string): ServedFile | null {
  const { path, size, sha256, url } = raw;
  if (typeof path !== 'string') throw new StoreError('bad-manifest', `variant ${variant} lists a file without a path`);
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

function parseLicenses(raw: unknown): ServedLicense[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter(
    (l: unknown): l is ServedLicense =>
      isRecord(l) && typeof l.name === 'string' && typeof l.url === 'string' && typeof l.covers === 'string',
  );
}

const MIRROR_STATES: readonly MirrorState[] = ['mirrored', 'fixture', 'absent', 'damaged'];

function mirrorState(raw: unknown): MirrorState {
  const state = isRecord(raw) ? raw.state : undefined;
  return MIRROR_STATES.find((s) => s === state) ?? 'absent';
}

export function parseServedVariant(raw: unknown, manifestUrl: string): ServedVariant {
  if (!isRecord(raw) || typeof raw.id !== 'string' || !Array.isArray(raw.files)) {
    throw new StoreError('bad-manifest', `${manifestUrl} has a variant without id or files`);
  }
  const id = raw.id;
  const entries = raw.files.map((f: unknown) => parseEntry(f, manifestUrl, id));
  const missing = entries.filter((e) => e.served === null && e.required).map((e) => e.path);
  const available = entries.flatMap((e) => (e.served === null ? [] : [e.served]));
  const sizes = entries.map((e) => e.size);
  const known = sizes.filter((size): size is number => size !== null);
  const definition = Object.fromEntries(Object.entries(raw).filter(([key]) => key !== 'files' && key !== 'mirror'));
  return {
    id,
    description: typeof raw.description === 'string' ? raw.description : '',
    // An optional file the gateway lacks (e.g. a VAE encoder) only takes img2img away; a required one, all.
    files: available.length > 0 && missing.length === 0 ? available : null,
    missing,
    sizeEstimate: known.length === sizes.length ? known.reduce((n, size) => n + size, 0) : null,
    licenses: parseLicenses(raw.licenses),
    mirrorState: mirrorState(raw.mirror),
    definition,
  };
}

export function parseServedManifest(body: unknown, manifestUrl: string): ServedVariant[] {
  if (!isRecord(body) || !Array.isArray(body.variants)) {
    throw new StoreError('bad-manifest', `${manifestUrl} has no "variants" list`);
  }
  return body.variants.map((raw: unknown) => parseServedVariant(raw, manifestUrl));
}

/** The served manifest's shared constants (`families`), for the engine; empty when absent. */
export function servedFamilies(body: unknown): Readonly<Record<string, unknown>> {
  return isRecord(body) && isRecord(body.families) ? body.families : {};
}

function absolute(url: string): string {
  const here = (globalThis as { location?: { href: string } }).location?.href ?? 'http://localhost/';
  return new URL(url, here).href;
}

export interface ServedManifest {
  readonly variants: ServedVariant[];
  readonly families: Readonly<Record<string, unknown>>;
}

export async function fetchServedManifest(manifestUrl: string): Promise<ServedVariant[]> {
  return (await fetchServed(manifestUrl)).variants;
}

/** The served manifest: the store's view of each variant, and the families the engine needs. */
export async function fetchServed(manifestUrl: string): Promise<ServedManifest> {
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
  return { variants: parseServedManifest(body, url), families: servedFamilies(body) };
}
