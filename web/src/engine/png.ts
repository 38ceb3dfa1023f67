/** PNG encoding in a worker or page, through OffscreenCanvas (the one DOM-only step of a generation). */

/** Float pixels HWC [0, 1] to RGBA bytes, rounding as diffusers' `(image * 255).round()` does. */
export function toRgba(pixels: Float32Array, width: number, height: number): Uint8ClampedArray<ArrayBuffer> {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = Math.round((pixels[p * 3] ?? 0) * 255);
    rgba[p * 4 + 1] = Math.round((pixels[p * 3 + 1] ?? 0) * 255);
    rgba[p * 4 + 2] = Math.round((pixels[p * 3 + 2] ?? 0) * 255);
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}

export async function encodePng(pixels: Float32Array, width: number, height: number): Promise<Blob> {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('OffscreenCanvas has no 2d context here');
  context.putImageData(new ImageData(toRgba(pixels, width, height), width, height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}
