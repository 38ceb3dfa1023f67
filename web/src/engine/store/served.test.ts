import { describe, expect, it } from 'vitest';
import { parseServedManifest } from './served';
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

  it('rejects a file with a malformed hash as a bad manifest', () => {
    const bad = { variants: [{ id: 'm', files: [{ path: 'a', size: 1, sha256: 'xyz', url: '/a' }] }] };
    expect(() => parseServedManifest(bad, BASE)).toThrow(StoreError);
    expect(() => parseServedManifest({ nope: 1 }, BASE)).toThrow(/no "variants" list/);
  });
});
