import { describe, expect, it } from 'vitest';
import { heldBytes, journalFits } from './chunkedDownload';
import { base64Encode, type ChunkJournal } from './layout';
import type { ServedFile } from './served';

const SHA = 'a'.repeat(64);
// 10 chunks of 100 bytes, the last one 50.
const file: ServedFile = {
  path: 'unet/model.onnx',
  size: 950,
  sha256: SHA,
  url: 'http://127.0.0.1/models/m/a/unet/model.onnx',
  required: true,
  chunks: { size: 100, sha256: Array.from({ length: 10 }, () => SHA) },
};

function journal(bits: number[], patch: Partial<ChunkJournal> = {}): ChunkJournal {
  return { version: 2, sha256: SHA, size: 950, chunkSize: 100, verified: base64Encode(new Uint8Array(bits)), ...patch };
}

describe('the chunk journal', () => {
  it('counts the bytes of the verified chunks, the short last one included', () => {
    // chunks 0 and 2 (byte 0: 0b101), and chunk 9 (byte 1: bit 1)
    expect(heldBytes(journal([0b101, 0b10]), file)).toBe(100 + 100 + 50);
  });

  it('counts the kept prefixes of chunks begun, so a pause keeps every byte fetched', () => {
    expect(heldBytes(journal([0b1, 0], { partial: { '1': 40, '9': 20 } }), file)).toBe(100 + 40 + 20);
  });

  it('never counts a prefix beyond its chunk, nor one of a verified chunk twice', () => {
    expect(heldBytes(journal([0b1, 0], { partial: { '0': 70, '9': 500 } }), file)).toBe(100 + 50);
  });

  it('is only resumed for the same file and chunk size', () => {
    const chunks = file.chunks ?? { size: 0, sha256: [] };
    expect(journalFits(journal([0, 0]), file, chunks)).toBe(true);
    expect(journalFits(journal([0, 0], { chunkSize: 200 }), file, chunks)).toBe(false);
    expect(journalFits(journal([0, 0], { sha256: 'b'.repeat(64) }), file, chunks)).toBe(false);
    expect(journalFits(journal([0]), file, chunks)).toBe(false); // a bitmap too short for 10 chunks
    expect(journalFits({ version: 1, sha256: SHA, size: 950, offset: 0, hashState: '' }, file, chunks)).toBe(false);
  });
});
