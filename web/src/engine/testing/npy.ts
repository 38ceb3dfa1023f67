/** Reads numpy .npy files (version 1-3, little-endian float32 / float64, C order): oracle fixtures in tests. */
export interface NpyArray {
  readonly shape: number[];
  readonly data: Float32Array;
}

export function parseNpy(bytes: Uint8Array): NpyArray {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw new Error('not a .npy file');
  const major = bytes[6] ?? 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '';
  if (/'fortran_order':\s*True/.test(header)) throw new Error('Fortran-order .npy is not supported');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const offset = start + headerLength;
  // A copy: Node's Buffer.slice shares its pool, whose .buffer holds other data too.
  const body = new Uint8Array(bytes.subarray(offset)).buffer;
  if (descr === '<f4') return { shape, data: new Float32Array(body) };
  if (descr === '<f8') return { shape, data: Float32Array.from(new Float64Array(body)) };
  throw new Error(`unsupported .npy dtype ${String(descr)}`);
}

/** Peak signal-to-noise ratio of two images in [0, 1], in dB (Infinity when identical). */
export function psnr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`size mismatch: ${String(a.length)} vs ${String(b.length)}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    sum += d * d;
  }
  const mse = sum / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}
