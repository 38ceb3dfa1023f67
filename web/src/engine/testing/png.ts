/// <reference types="node" />
/** Decodes 8-bit gray/RGB(A), non-interlaced PNGs (the oracle's init.png, the tools' inputs), for Node tests. */
import { inflateSync } from 'node:zlib';

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function decodeRows(file: Uint8Array): { width: number; height: number; channels: number; rows: Uint8Array } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < file.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...file.subarray(at + 4, at + 8));
    const body = file.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const [depth, color, , , interlace] = body.subarray(8, 13);
      channels = CHANNELS[color ?? -1] ?? 0;
      if (depth !== 8 || channels === 0 || interlace !== 0) throw new Error('unsupported PNG format');
    } else if (type === 'IDAT') {
      idat.push(body);
    }
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x] ?? 0;
      const left = x >= channels ? (rows[y * stride + x - channels] ?? 0) : 0;
      const up = y > 0 ? (rows[(y - 1) * stride + x] ?? 0) : 0;
      const upLeft = y > 0 && x >= channels ? (rows[(y - 1) * stride + x - channels] ?? 0) : 0;
      const predictor = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][filter] ?? 0;
      rows[y * stride + x] = (value + predictor) & 0xff;
    }
  }
  return { width, height, channels, rows };
}

/** Float HWC RGB in [0, 1] (RGB or RGBA files; alpha dropped). */
export function decodePng(file: Uint8Array): { width: number; height: number; pixels: Float32Array } {
  const { width, height, channels, rows } = decodeRows(file);
  if (channels < 3) throw new Error('unsupported PNG format');
  const pixels = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) pixels[p * 3 + c] = Math.fround((rows[p * channels + c] ?? 0) / 255);
  }
  return { width, height, pixels };
}

/** 8-bit RGBA of any 8-bit PNG: gray as equal channels, missing alpha as 255 (what a canvas's ImageData holds). */
export function decodePngRgba(file: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const { width, height, channels, rows } = decodeRows(file);
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const at = p * channels;
    const gray = channels < 3;
    for (let c = 0; c < 3; c++) data[p * 4 + c] = rows[at + (gray ? 0 : c)] ?? 0;
    data[p * 4 + 3] = channels === 2 || channels === 4 ? (rows[at + channels - 1] ?? 0) : 255;
  }
  return { width, height, data };
}
