/**
 * Two tiny ONNX graphs the engine builds itself, so latents never leave the GPU between the model's graphs:
 *
 * - `eulerStepGraph`: EulerDiscreteScheduler.step for epsilon prediction (s_churn 0) plus what the next graph
 *   needs: the next UNet input (scale_model_input) and the decoder input (latents / scaling factor).
 * - `sumOfSquaresGraph`: one float, sum(x^2), that is NaN when x holds a NaN, Inf when it holds an Inf and 0
 *   when x is all zeros. The stage guards (checks.ts) read it instead of downloading the whole tensor.
 *
 * They are encoded here as ONNX protobuf bytes (a few hundred), not shipped as files: they depend on nothing
 * but opset 17, and building them in code keeps them next to the CPU arithmetic they replace (scheduler.ts).
 */

/** ONNX TensorProto.DataType. */
const FLOAT = 1;

// --- protobuf wire format, just what these graphs use ---

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

const key = (field: number, wire: number): number[] => varint(field * 8 + wire);
const intField = (field: number, value: number): number[] => [...key(field, 0), ...varint(value)];
const bytesField = (field: number, bytes: readonly number[]): number[] => [...key(field, 2), ...varint(bytes.length), ...bytes];
const stringField = (field: number, text: string): number[] => bytesField(field, [...new TextEncoder().encode(text)]);

interface Node {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Integer attributes only (all these graphs need). */
  readonly ints?: Readonly<Record<string, number>>;
}

function node({ op, inputs, outputs, ints = {} }: Node): number[] {
  const attributes = Object.entries(ints).flatMap(([name, value]) =>
    bytesField(5, [...stringField(1, name), ...intField(3, value), ...intField(20, 2 /* AttributeProto.INT */)]),
  );
  return [
    ...inputs.flatMap((name) => stringField(1, name)),
    ...outputs.flatMap((name) => stringField(2, name)),
    ...stringField(4, op),
    ...attributes,
  ];
}

/** A float tensor's value info; `dims` undefined leaves the rank free, a string entry is a named free dim. */
function floatValue(name: string, dims?: readonly (number | string)[]): number[] {
  const shape =
    dims === undefined
      ? []
      : bytesField(
          2,
          dims.flatMap((d) => bytesField(1, typeof d === 'number' ? intField(1, d) : stringField(2, d))),
        );
  const tensorType = [...intField(1, FLOAT), ...shape];
  return [...stringField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

interface Graph {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly inputs: readonly number[][];
  readonly outputs: readonly number[][];
}

function model({ name, nodes, inputs, outputs }: Graph): Uint8Array {
  const graph = [
    ...nodes.flatMap((n) => bytesField(1, node(n))),
    ...stringField(2, name),
    ...inputs.flatMap((v) => bytesField(11, v)),
    ...outputs.flatMap((v) => bytesField(12, v)),
  ];
  const opset = [...stringField(1, ''), ...intField(2, 17)];
  return Uint8Array.from([
    ...intField(1, 8), // ir_version 8 (opset 17)
    ...stringField(2, 'turbodraft'),
    ...bytesField(7, graph),
    ...bytesField(8, opset),
  ]);
}

/** The latent tensor's dims: batch 1, free channels and sizes (one graph serves every image size). */
const LATENT_DIMS = [1, 'channels', 'height', 'width'] as const;

/**
 * Inputs: `latents`, `noise_pred` (the UNet's output), and three [1] scalars: `dt` (sigma_next - sigma),
 * `model_denom` (sqrt(sigma_next^2 + 1)), `scaling_factor`. Outputs: `next_latents` = latents + noise_pred * dt
 * (diffusers' step: the derivative (x - (x - sigma * eps)) / sigma is eps), `model_input` = next / model_denom,
 * `vae_input` = next / scaling_factor.
 */
export function eulerStepGraph(): Uint8Array {
  return model({
    name: 'euler_step',
    nodes: [
      { op: 'Mul', inputs: ['noise_pred', 'dt'], outputs: ['delta'] },
      { op: 'Add', inputs: ['latents', 'delta'], outputs: ['next_latents'] },
      { op: 'Div', inputs: ['next_latents', 'model_denom'], outputs: ['model_input'] },
      { op: 'Div', inputs: ['next_latents', 'scaling_factor'], outputs: ['vae_input'] },
    ],
    inputs: [
      floatValue('latents', LATENT_DIMS),
      floatValue('noise_pred', LATENT_DIMS),
      floatValue('dt', [1]),
      floatValue('model_denom', [1]),
      floatValue('scaling_factor', [1]),
    ],
    outputs: [
      floatValue('next_latents', LATENT_DIMS),
      floatValue('model_input', LATENT_DIMS),
      floatValue('vae_input', LATENT_DIMS),
    ],
  });
}

export const EULER_STEP_OUTPUTS = ['next_latents', 'model_input', 'vae_input'] as const;

/** Input `x` (float, any shape); output `sum_sq`, a scalar: sum(x^2) over every element. */
export function sumOfSquaresGraph(): Uint8Array {
  return model({
    name: 'sum_of_squares',
    nodes: [{ op: 'ReduceSumSquare', inputs: ['x'], outputs: ['sum_sq'], ints: { keepdims: 0 } }],
    inputs: [floatValue('x')],
    outputs: [floatValue('sum_sq', [])],
  });
}
