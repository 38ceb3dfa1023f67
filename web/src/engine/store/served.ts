/**
 * The gateway's served manifest (`/models/manifest.json`), checked into the shape the store needs: each
 * variant's files with size, sha256 and mirror URL. Anything malformed is a typed `bad-manifest` error.
 */
import { StoreError } from './types';

export interface ServedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Absolute URL of the content-addressed file. */
  readonly url: string;
  readonly required: boolean;
}

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
  return { path, size, sha256, url: new URL(url, base).href, required: raw.required !== false };
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
