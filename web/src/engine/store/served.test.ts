import { describe, expect, it } from 'vitest';
import { MAX_CHUNK_BYTES, parseServedManifest } from './served';
import { StoreError } from './types';

const SHA = 'a'.repeat(64);
const BASE = 'http://127.0.0.1:8000/models/manifest.json';

describe('parseServedManifest', () => {
  it('resolves file URLs against the manifest URL', () => {
    const [variant] = parseServedManifest(
      { variants: [{ id: 'm', description: 'd', files: [{ path: 'a.onnx', size: 3, sha256: SHA, url: `/models/m/${SHA}/a.onnx` }] }] },
      BASE,
    );
    expect(variant?.files?.[0]?.url).toBe(`http://127.0.0.1:8000/models/m/${SHA}/a.onnx`);
    expect(variant?.files?.[0]?.required).toBe(true);
  });

  it('lists a variant the gateway lacks a file of as not downloadable', () => {
    const [variant] = parseServedManifest(
      { variants: [{ id: 'm', files: [{ path: 'a.onnx', size: null, sha256: null, url: null }] }] },
      BASE,
    );
    expect(variant?.files).toBeNull();
  });

  it('downloads a variant without an optional file the gateway lacks, and with its other files', () => {
    const [variant] = parseServedManifest(
      {
        variants: [
          {
            id: 'm',
            files: [
              { path: 'a.onnx', size: 3, sha256: SHA, url: '/a' },
              { path: 'vae_encoder/model.onnx', size: null, sha256: null, url: null, required: false },
            ],
          },
        ],
      },
      BASE,
    );
    expect(variant?.files?.map((f) => f.path)).toEqual(['a.onnx']);
    expect(variant?.missing).toEqual([]);
  });

  it('names the required files the gateway lacks', () => {
    const [variant] = parseServedManifest(
      {
        variants: [
          {
            id: 'm',
            files: [
              { path: 'a.onnx', size: 3, sha256: SHA, url: '/a' },
              { path: 'unet/model.onnx', size: null, sha256: null, url: null, size_estimate: 1000 },
            ],
          },
        ],
      },
      BASE,
    );
    expect(variant?.files).toBeNull();
    expect(variant?.missing).toEqual(['unet/model.onnx']);
    expect(variant?.sizeEstimate).toBe(1003); // exact where served, the manifest's estimate elsewhere
  });

  it('carries the licences, the gateway copy and the definition the engine runs it by', () => {
    const licenses = [{ name: 'MIT', url: 'https://x', covers: 'TAESD' }];
    const [variant] = parseServedManifest(
      {
        variants: [
          { id: 'm', files: [], licenses, backends: ['wasm'], max_steps: 4, mirror: { state: 'mirrored' } },
        ],
      },
      BASE,
    );
    expect(variant?.licenses).toEqual(licenses);
    expect(variant?.mirrorState).toBe('mirrored');
    expect(variant?.definition).toMatchObject({ id: 'm', backends: ['wasm'], max_steps: 4 });
    expect(variant?.definition).not.toHaveProperty('files');
  });

  it('rejects a file with a malformed hash as a bad manifest', () => {
    const bad = { variants: [{ id: 'm', files: [{ path: 'a', size: 1, sha256: 'xyz', url: '/a' }] }] };
    expect(() => parseServedManifest(bad, BASE)).toThrow(StoreError);
    expect(() => parseServedManifest({ nope: 1 }, BASE)).toThrow(/no "variants" list/);
  });
});

describe('chunk hashes in the served manifest', () => {
  const file = (chunks: unknown, size = 10): unknown => ({
    variants: [{ id: 'm', files: [{ path: 'a.onnx', size, sha256: SHA, url: '/a', chunks }] }],
  });

  it('carries each file\'s chunk size and hashes', () => {
    const [variant] = parseServedManifest(file({ size: 4, sha256: [SHA, SHA, SHA] }), BASE);
    expect(variant?.files?.[0]?.chunks).toEqual({ size: 4, sha256: [SHA, SHA, SHA] });
  });

  it('leaves a file without chunk hashes to the whole-file check', () => {
    const [variant] = parseServedManifest(file(null), BASE);
    expect(variant?.files?.[0]?.chunks).toBeNull();
  });

  it('rejects a chunk list that leaves bytes unchecked', () => {
    expect(() => parseServedManifest(file({ size: 4, sha256: [SHA, SHA] }), BASE)).toThrow(/2 hashes of 4 bytes for a file of 10/);
    expect(() => parseServedManifest(file({ size: 0, sha256: [] }), BASE)).toThrow(/chunk size/);
    expect(() => parseServedManifest(file({ size: 4, sha256: [SHA, 'xyz', SHA] }), BASE)).toThrow(StoreError);
  });

  it('ignores chunks too big to hold in memory, checking that file as a whole', () => {
    const size = 2 * MAX_CHUNK_BYTES;
    const [variant] = parseServedManifest(file({ size, sha256: [SHA] }, size), BASE);
    expect(variant?.files?.[0]?.chunks).toBeNull();
  });
});
