/**
 * How the engine reads model files: from the store's verified copy in OPFS when the variant is stored, else
 * from the gateway's mirror with the whole file checked against the manifest's sha256 before use. Either way
 * onnxruntime only ever sees bytes whose hash matched.
 */
import type { ModelReader } from '../pipeline';
import { fileOrNull, openLayout, readRecord, type Layout } from './layout';
import { fetchServedManifest, type ServedVariant } from './served';
import { StoreError } from './types';

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // The whole file is in memory here, so WebCrypto's one-shot digest (native, fast) is the right tool.
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Reads through the served manifest, verifying each file; the manifest is fetched once per factory. */
export function verifiedMirrorReaders(manifestUrl: string): (variantId: string) => ModelReader {
  let manifest: Promise<ServedVariant[]> | null = null;
  return (variantId) => async (path) => {
    manifest ??= fetchServedManifest(manifestUrl);
    let variants: ServedVariant[];
    try {
      variants = await manifest;
    } catch (error) {
      manifest = null; // a transient failure is not remembered
      throw error;
    }
    const variant = variants.find((v) => v.id === variantId);
    if (variant === undefined) {
      throw new StoreError('unknown-variant', `the gateway offers no model ${JSON.stringify(variantId)}`, path);
    }
    if (variant.files === null) {
      // Otherwise the first file asked for (the tokenizer) would look missing from a model that is not there.
      throw new StoreError(
        'not-mirrored',
        `the gateway does not have ${variantId} yet (it lacks ${variant.missing.join(', ')}); download it in the ` +
          `model panel, or fetch it with \`turbodraft models pull ${variantId}\``,
        path,
      );
    }
    const file = variant.files.find((f) => f.path === path);
    if (file === undefined) return null; // an optional file the gateway does not have
    const response = await fetch(file.url);
    if (!response.ok) throw new StoreError('http-error', `HTTP ${String(response.status)} for ${file.url}`, path);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const actual = await sha256Hex(bytes);
    if (actual !== file.sha256) {
      throw new StoreError(
        'integrity-mismatch',
        `${variantId}/${path}: sha256 mismatch: the manifest says ${file.sha256}, the bytes hash to ${actual}; not loading it`,
        path,
      );
    }
    return bytes;
  };
}

/** OPFS first (no network at all once a variant is stored), the verified mirror otherwise. */
export function storeReaders(manifestUrl: string): (variantId: string) => ModelReader {
  const network = verifiedMirrorReaders(manifestUrl);
  let layout: Promise<Layout | null> | null = null;
  const open = (): Promise<Layout | null> => (layout ??= openLayout().catch(() => null));
  return (variantId) => {
    const fallback = network(variantId);
    const fromNetwork = async (path: string, stored: boolean): Promise<Uint8Array | null> => {
      try {
        return await fallback(path);
      } catch (error) {
        // A fetch that never reached the gateway (offline): say why the model was not read locally instead.
        const unreachable = error instanceof TypeError || (error instanceof StoreError && error.code === 'network-error');
        if (!unreachable) throw error;
        const why = stored ? `${variantId} is not downloaded in this browser` : 'this browser cannot store models';
        const detail = error.message;
        throw new StoreError('network-error', `${why}, and the gateway that has it cannot be reached (${detail})`, path);
      }
    };
    return async (path) => {
      const opened = await open();
      const record = opened === null ? null : await readRecord(opened, variantId);
      if (opened === null || record === null) return fromNetwork(path, opened !== null);
      const entry = record.files.find((f) => f.path === path);
      if (entry === undefined) return null;
      const blob = await fileOrNull(opened.blobs, entry.sha256);
      if (blob?.size !== entry.size) {
        throw new StoreError(
          'storage-unavailable',
          `${variantId}/${path} is missing from browser storage (evicted?); remove and download ${variantId} again`,
          path,
        );
      }
      return new Uint8Array(await blob.arrayBuffer());
    };
  };
}
