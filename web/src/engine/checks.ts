/**
 * Guards between stages (mirror of turbodraft/pipeline/checks.py): a NaN, Inf or all-zero tensor is a failure,
 * never a black image. An fp16 graph on WebGPU without shader-f16 has been seen to return all zeros silently.
 */
import { EngineError } from './errors';

export function checkOutput(stage: string, values: Float32Array): void {
  if (values.length === 0) throw new EngineError('bad-output', `${stage} produced an empty tensor`, stage);
  let nan = 0;
  let inf = 0;
  let nonZero = false;
  for (const v of values) {
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else if (v !== 0) nonZero = true;
  }
  if (nan + inf > 0) {
    const kind = nan > 0 ? 'NaN' : 'Inf';
    throw new EngineError(
      'bad-output',
      `${stage} produced ${kind} values (${String(nan + inf)} of ${String(values.length)})`,
      stage,
    );
  }
  if (!nonZero) throw new EngineError('bad-output', `${stage} produced all zeros`, stage);
}

/**
 * The same guard for a tensor that stayed on the GPU, from its sum of squares (graphs.ts sumOfSquaresGraph):
 * NaN when it held a NaN, Infinity when it held an Inf (or overflowed, which is as bad), 0 when all zeros.
 */
export function checkSumOfSquares(stage: string, sumOfSquares: number): void {
  if (Number.isNaN(sumOfSquares)) throw new EngineError('bad-output', `${stage} produced NaN values`, stage);
  if (!Number.isFinite(sumOfSquares)) throw new EngineError('bad-output', `${stage} produced Inf values`, stage);
  if (sumOfSquares === 0) throw new EngineError('bad-output', `${stage} produced all zeros`, stage);
}
