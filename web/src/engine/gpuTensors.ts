/**
 * GPU buffers the engine owns and hands to onnxruntime-web as tensors: the fixed inputs and outputs that graph
 * capture needs (a captured graph replays with the buffers it was recorded with), and their reads back.
 *
 * Ordering: onnxruntime-web (JSEP) records kernels into its own command encoder and submits them in batches, so
 * work it has not submitted yet runs after anything written with `queue.writeBuffer` now. `write` is therefore
 * only called when no unsubmitted ORT work reads the buffer (before the run that consumes it, after a run whose
 * output was read on the CPU), and `read` only after such a read (pipeline.ts keeps to both).
 */
import type * as OrtModule from 'onnxruntime-web';
import type { Ort } from './pipeline';

type Tensor = OrtModule.Tensor;
export type GpuTensorType = 'float32' | 'int32' | 'int64';

const BYTES: Record<GpuTensorType, number> = { float32: 4, int32: 4, int64: 8 };

/** ORT-web copies whole 16-byte units when it reads a buffer back, so every buffer is a multiple of 16. */
const roundUp16 = (n: number): number => Math.ceil(n / 16) * 16;

export class OwnedGpuTensor {
  readonly tensor: Tensor;
  readonly bytes: number;
  private destroyed = false;

  constructor(
    ort: Ort,
    private readonly device: GPUDevice,
    readonly type: GpuTensorType,
    readonly dims: readonly number[],
    readonly buffer: GPUBuffer = device.createBuffer({
      size: roundUp16(dims.reduce((a, b) => a * b, 1) * BYTES[type]),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    }),
  ) {
    this.bytes = dims.reduce((a, b) => a * b, 1) * BYTES[type];
    this.tensor = ort.Tensor.fromGpuBuffer(buffer, {
      dataType: type,
      dims,
      download: async () => {
        const bytes = await this.read();
        const data = type === 'int64' ? new BigInt64Array(bytes) : type === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
        return data;
      },
    });
  }

  write(data: Float32Array | Int32Array | BigInt64Array): void {
    if (data.byteLength !== this.bytes) throw new Error(`expected ${String(this.bytes)} bytes, got ${String(data.byteLength)}`);
    this.device.queue.writeBuffer(this.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** The buffer's contents (its first `bytes`) once the GPU has written them. */
  async read(): Promise<ArrayBuffer> {
    const size = roundUp16(this.bytes);
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(this.buffer, 0, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0, this.bytes);
    } finally {
      staging.destroy();
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.buffer.destroy();
  }
}

/** A graph input's or output's dims with its named free dimensions resolved; null when one stays unknown. */
export function resolveDims(
  shape: readonly (number | string)[],
  overrides: Readonly<Record<string, number>>,
): number[] | null {
  const dims: number[] = [];
  for (const d of shape) {
    const value = typeof d === 'number' ? d : overrides[d];
    if (value === undefined || value < 0) return null;
    dims.push(value);
  }
  return dims;
}
