/**
 * Where model files come from, as `ModelReader`s over `fetch` (available in workers, pages and Node):
 * - the gateway's mirror: `/models/manifest.json` lists each file's content-addressed `url`;
 * - a plain directory tree `<baseUrl>/<variant id>/<path>` (the repository's fixtures/, any static server).
 */
import type { ModelReader } from './pipeline';

export type Fetch = (url: string) => Promise<Response>;

async function bytesOrNull(response: Response, url: string): Promise<Uint8Array | null> {
  // A single-page-app fallback answers unknown paths with index.html: that is "missing", not a model file.
  const html = (response.headers.get('content-type') ?? '').startsWith('text/html');
  if (response.status === 404 || (response.ok && html)) return null;
  if (!response.ok) throw new Error(`HTTP ${String(response.status)} for ${url}`);
  return new Uint8Array(await response.arrayBuffer());
}

export function directoryReader(baseUrl: string, variantId: string, fetchFn: Fetch = fetch): ModelReader {
  const root = `${baseUrl.replace(/\/+$/, '')}/${encodeURIComponent(variantId)}/`;
  return async (path) => {
    const url = root + path;
    return bytesOrNull(await fetchFn(url), url);
  };
}

interface ServedFile {
  readonly path: string;
  readonly url: string | null;
}

interface ServedManifest {
  readonly variants: readonly { readonly id: string; readonly files: readonly ServedFile[] }[];
}

/** Reads through the gateway's mirror; the served manifest is fetched once per reader factory. */
export function mirrorReaders(manifestUrl: string, fetchFn: Fetch = fetch): (variantId: string) => ModelReader {
  let manifest: Promise<ServedManifest> | null = null;
  const load = async (): Promise<ServedManifest> => {
    const response = await fetchFn(manifestUrl);
    if (!response.ok) throw new Error(`HTTP ${String(response.status)} for ${manifestUrl}`);
    return (await response.json()) as ServedManifest;
  };
  return (variantId) => async (path) => {
    manifest ??= load();
    let served: ServedManifest;
    try {
      served = await manifest;
    } catch (error) {
      manifest = null; // retry on the next read rather than remember a transient failure
      throw error;
    }
    const file = served.variants.find((v) => v.id === variantId)?.files.find((f) => f.path === path);
    if (file?.url === undefined || file.url === null) return null;
    const url = new URL(file.url, new URL(manifestUrl, (globalThis as { location?: { href: string } }).location?.href ?? 'http://localhost/')).href;
    return bytesOrNull(await fetchFn(url), url);
  };
}
