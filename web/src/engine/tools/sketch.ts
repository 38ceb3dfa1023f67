/**
 * Sketch-to-image's input (mirror of turbodraft/tools/sketch.py): a frame's RGBA rendering composited over
 * white and resized (antialiased) to the model's size, as float HWC RGB in [0, 1], the engine's `initImage`.
 * The draft itself is the engine's img2img at a low strength, superseded by each newer stroke.
 */
import { split, type RgbaImage } from './images';
import { resizePlanes } from './resize';

export function sketchInitImage(image: RgbaImage, width: number, height: number): Float32Array {
  const planes = split(image);
  const n = planes.width * planes.height;
  const rgb = planes.rgb;
  if (planes.alpha !== null) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < n; p++) {
        const a = planes.alpha[p] ?? 1;
        rgb[c * n + p] = Math.fround(Math.fround((rgb[c * n + p] ?? 0) * a) + Math.fround(1 - a));
      }
    }
  }
  const sized = planes.width === width && planes.height === height ? rgb : resizePlanes(rgb, 3, planes.height, planes.width, height, width);
  const m = width * height;
  const out = new Float32Array(3 * m);
  for (let p = 0; p < m; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.min(1, Math.max(0, sized[c * m + p] ?? 0));
  }
  return out;
}
