/**
 * Triangle-filter (bilinear) resampling that widens when shrinking: torch's
 * `F.interpolate(mode='bilinear', align_corners=False, antialias=True)`, PIL's BILINEAR. Mirror of
 * turbodraft/tools/resize.py, checked against torch's values in fixtures/tools/resize.json.
 */

export interface AxisWeights {
  readonly starts: Int32Array;
  readonly weights: Float64Array[];
}

export function axisWeights(inSize: number, outSize: number): AxisWeights {
  if (inSize < 1 || outSize < 1) throw new RangeError(`cannot resize ${String(inSize)} to ${String(outSize)}`);
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const inv = scale >= 1 ? 1 / scale : 1;
  const starts = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w = new Float64Array(Math.max(hi - lo, 0));
    let total = 0;
    for (let j = 0; j < w.length; j++) {
      const v = Math.max(0, 1 - Math.abs((lo + j - center + 0.5) * inv));
      w[j] = v;
      total += v;
    }
    if (total > 0) for (let j = 0; j < w.length; j++) w[j] = (w[j] ?? 0) / total;
    starts[i] = lo;
    weights.push(w);
  }
  return { starts, weights };
}

/**
 * Resizes `planes` planar channels of [inH, inW] float values to [outH, outW]: width first, then height,
 * accumulating in float64 as the twin does.
 */
export function resizePlanes(
  data: Float32Array,
  planes: number,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
): Float32Array {
  const out = new Float32Array(planes * outH * outW);
  const wx = inW === outW ? null : axisWeights(inW, outW);
  const wy = inH === outH ? null : axisWeights(inH, outH);
  const row = new Float64Array(inH * outW);
  for (let c = 0; c < planes; c++) {
    const base = c * inH * inW;
    for (let y = 0; y < inH; y++) {
      for (let x = 0; x < outW; x++) {
        if (wx === null) {
          row[y * outW + x] = data[base + y * inW + x] ?? 0;
          continue;
        }
        const lo = wx.starts[x] ?? 0;
        const w = wx.weights[x] ?? new Float64Array(0);
        let acc = 0;
        for (let j = 0; j < w.length; j++) acc += (w[j] ?? 0) * (data[base + y * inW + lo + j] ?? 0);
        row[y * outW + x] = acc;
      }
    }
    const outBase = c * outH * outW;
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        if (wy === null) {
          out[outBase + y * outW + x] = row[y * outW + x] ?? 0;
          continue;
        }
        const lo = wy.starts[y] ?? 0;
        const w = wy.weights[y] ?? new Float64Array(0);
        let acc = 0;
        for (let j = 0; j < w.length; j++) acc += (w[j] ?? 0) * (row[(lo + j) * outW + x] ?? 0);
        out[outBase + y * outW + x] = acc;
      }
    }
  }
  return out;
}
